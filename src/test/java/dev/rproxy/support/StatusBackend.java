package dev.rproxy.support;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A backend on loopback that answers every request (its {@code /_health} probes too) with one
 * status, after an optional delay, with a JSON body naming it: what a failing or slow service
 * looks like from the proxy. The status, delay and {@code Retry-After} can change while it runs.
 */
public final class StatusBackend implements AutoCloseable {
    private final String id;
    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final AtomicInteger requests = new AtomicInteger();
    private final AtomicInteger probes = new AtomicInteger();
    private volatile int status;
    private volatile long delayMs;
    private volatile String retryAfter;
    private final java.util.Map<String, String> extraHeaders = new java.util.concurrent.ConcurrentHashMap<>();

    public StatusBackend(String id, int status) throws IOException {
        this.id = id;
        this.status = status;
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 100);
        server.setExecutor(executor);
        server.createContext("/", ex -> {
            try (InputStream in = ex.getRequestBody()) {
                in.readAllBytes();
            }
            if (!ex.getRequestURI().getPath().equals("/_health")) {
                requests.incrementAndGet();
            } else {
                probes.incrementAndGet();
            }
            try {
                if (delayMs > 0) {
                    Thread.sleep(delayMs);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            int now = this.status; // the field: the constructor's parameter would never change
            byte[] body = ("{\"backend\":\"" + id + "\",\"status\":" + now + ",\"path\":\""
                    + ex.getRequestURI().getRawPath() + "\"}").getBytes(StandardCharsets.UTF_8);
            if (retryAfter != null) {
                ex.getResponseHeaders().set("Retry-After", retryAfter);
            }
            extraHeaders.forEach((name, value) -> ex.getResponseHeaders().set(name, value));
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(now, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
    }

    public String id() {
        return id;
    }

    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** {@code {"id": ..., "url": ...}} for a config's backend list. */
    public String json() {
        return "{\"id\": \"" + id + "\", \"url\": \"" + url() + "\"}";
    }

    public StatusBackend status(int status) {
        this.status = status;
        return this;
    }

    public StatusBackend delayMs(long delayMs) {
        this.delayMs = delayMs;
        return this;
    }

    public StatusBackend retryAfter(String value) {
        this.retryAfter = value;
        return this;
    }

    /** A field every response carries (a backend's {@code Server}, say). */
    public StatusBackend header(String name, String value) {
        extraHeaders.put(name, value);
        return this;
    }

    /** Requests answered so far, probes aside. */
    /** Health probes ({@code /_health}) received so far. */
    public int probes() {
        return probes.get();
    }

    public int requests() {
        return requests.get();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
