package dev.rproxy.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A backend that answers every request head with fixed bytes and records exactly what it received,
 * for tests of what the proxy puts on the wire in both directions. Health probes ({@code GET
 * /_health}) get a plain 200 and are not recorded. One thread per connection; each connection
 * carries one request and is then closed by the backend unless the scripted bytes say otherwise.
 */
public final class RawBackend implements AutoCloseable {
    private final LoopbackServer server;
    private final BlockingQueue<String> received = new LinkedBlockingQueue<>();
    private volatile byte[] response;
    /** A response to send in two writes, once, instead of {@link #response}. */
    private final AtomicReference<Split> split = new AtomicReference<>();

    private record Split(byte[] first, CountDownLatch go, byte[] rest) {}

    public RawBackend(String response) throws IOException {
        this.response = response.getBytes(StandardCharsets.ISO_8859_1);
        server = new LoopbackServer("raw-backend", this::serve);
    }

    public String url() {
        return "http://127.0.0.1:" + server.port();
    }

    public void respondWith(String response) {
        this.response = response.getBytes(StandardCharsets.ISO_8859_1);
    }

    /**
     * The next request gets {@code first} at once and {@code rest} in a second write once {@code go}
     * opens, so the proxy reads the response in two parts; later requests get the usual response.
     */
    public void respondInTwoParts(String first, CountDownLatch go, String rest) {
        split.set(new Split(first.getBytes(StandardCharsets.ISO_8859_1), go, rest.getBytes(StandardCharsets.ISO_8859_1)));
    }

    /** The next request head (and any body bytes read with it) that reached this backend. */
    public String nextRequest(long timeout, TimeUnit unit) throws InterruptedException {
        return received.poll(timeout, unit);
    }

    private void serve(Socket s) {
        try (s) {
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            String head = readHead(in);
            if (head == null) {
                return;
            }
            if (head.startsWith("GET /_health ")) {
                s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.ISO_8859_1));
                return;
            }
            received.add(head);
            Split parts = split.getAndSet(null);
            if (parts == null) {
                s.getOutputStream().write(response);
            } else {
                s.getOutputStream().write(parts.first());
                s.getOutputStream().flush();
                if (!parts.go().await(10, TimeUnit.SECONDS)) {
                    return;
                }
                s.getOutputStream().write(parts.rest());
            }
            s.getOutputStream().flush();
            s.shutdownOutput();
            while (in.read() != -1) {
                // drain until the proxy closes its side
            }
        } catch (IOException e) {
            // connection reset by the proxy: fine for a scripted backend
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Reads one request head, up to and including the empty line; null at end of stream. */
    public static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int state = 0;
        int c;
        while ((c = in.read()) != -1) {
            head.write(c);
            state = (c == '\r' && (state == 0 || state == 2)) ? state + 1
                    : (c == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
            if (state == 4) {
                return head.toString(StandardCharsets.ISO_8859_1);
            }
        }
        return null;
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
