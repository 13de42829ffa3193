package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.ProxyProcess;
import dev.rproxy.testbackend.TestBackend;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hundreds of clients that fetch a large response and read it a few bytes at a time, against a
 * proxy whose direct memory (32 MiB) cannot hold what their connections would queue at full
 * allowance: the buffer budget shrinks the allowances and cuts the most stalled, so normal
 * requests alongside keep being answered, no allocation fails, and nothing stays stuck after.
 */
class SlowReadersTest {
    private static final Logger log = LoggerFactory.getLogger(SlowReadersTest.class);
    private static final int SLOW_READERS = 300;

    @TempDir
    Path dir;

    @Test
    void slowReadersExhaustNeitherMemoryNorTheOtherClients() throws Exception {
        try (TestBackend b1 = TestBackend.start("b1", "127.0.0.1", 0);
                TestBackend b2 = TestBackend.start("b2", "127.0.0.1", 0)) {
            Path config = ProxyProcess.configFile(dir, "{\"listen\":{\"host\":\"127.0.0.1\",\"port\":0},"
                    + "\"backends\":[{\"id\":\"b1\",\"url\":\"" + b1.url() + "\"},{\"id\":\"b2\",\"url\":\"" + b2.url() + "\"}],"
                    + "\"healthCheck\":{\"intervalMs\":1000,\"timeoutMs\":2000},"
                    + "\"server\":{\"ioThreads\":2},\"accessLog\":{\"enabled\":false}}");
            try (ProxyProcess proxy = ProxyProcess.start(
                    List.of("-Xmx64m", "-XX:MaxDirectMemorySize=32m", "-XX:+UseSerialGC"), config.toString())) {
                int port = proxy.awaitListening(30, TimeUnit.SECONDS);
                HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
                List<Socket> slow = new ArrayList<>();
                AtomicBoolean stop = new AtomicBoolean();
                Thread reader = new Thread(() -> readSlowly(slow, stop), "slow-readers");
                try {
                    for (int i = 0; i < SLOW_READERS; i++) {
                        Socket s = new Socket();
                        s.setReceiveBufferSize(4096);
                        s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                        s.setSoTimeout(20);
                        s.getOutputStream().write(("GET /stream?bytes=20000000 HTTP/1.1\r\nHost: h\r\n\r\n")
                                .getBytes(StandardCharsets.US_ASCII));
                        synchronized (slow) {
                            slow.add(s);
                        }
                        if (i == 0) {
                            reader.start();
                        }
                        if (i % 20 == 19) {
                            // Paced arrivals: the backends share this JVM, and a burst of 300 new
                            // streams would starve their health answers here, not the proxy.
                            Thread.sleep(100);
                        }
                    }
                    // While they hold their responses: normal requests, and the proxy's own health.
                    int ok = 0;
                    List<Long> latencies = new ArrayList<>();
                    for (int i = 0; i < 100; i++) {
                        long start = System.nanoTime();
                        HttpResponse<String> r = get(client, port, "/normal?i=" + i);
                        latencies.add((System.nanoTime() - start) / 1_000_000);
                        if (r != null && r.statusCode() == 200 && r.body().contains("\"path\":\"/normal\"")) {
                            ok++;
                        }
                    }
                    latencies.sort(null);
                    log.info("normal requests beside {} slow readers: {} of 100 answered 200; median {} ms, p99 {} ms;"
                            + " proxy RSS {} KiB", SLOW_READERS, ok, latencies.get(50), latencies.get(98),
                            proxy.procStatusKib("VmRSS"));
                    log.info("proxy log lines about pressure:\n{}", String.join("\n", proxy.output().stream()
                            .filter(l -> l.contains("pressure") || l.contains("WARN") || l.contains("ERROR")).limit(40).toList()));
                    assertThat(ok).isGreaterThanOrEqualTo(99);
                    HttpResponse<String> health = get(client, port, "/_health");
                    assertThat(health).isNotNull();
                    assertThat(health.statusCode()).isEqualTo(200);
                } finally {
                    stop.set(true);
                    reader.join(10_000);
                    synchronized (slow) {
                        for (Socket s : slow) {
                            s.close();
                        }
                    }
                }
                // Nothing stays stuck: the backends are healthy and normal requests are answered.
                await().atMost(Duration.ofSeconds(20)).until(() -> {
                    HttpResponse<String> r = get(client, port, "/after");
                    return r != null && r.statusCode() == 200;
                });
                await().atMost(Duration.ofSeconds(20)).until(() -> {
                    HttpResponse<String> r = get(client, port, "/_health");
                    return r != null && r.statusCode() == 200 && !r.body().contains("\"healthy\":false");
                });
                String output = String.join("\n", proxy.output());
                assertThat(output).doesNotContain("OutOfMemory").doesNotContain("LEAK");
            }
        }
    }

    /** Reads up to 32 bytes from each slow reader every 500 ms until stopped. */
    private static void readSlowly(List<Socket> sockets, AtomicBoolean stop) {
        byte[] buf = new byte[32];
        while (!stop.get()) {
            List<Socket> now;
            synchronized (sockets) {
                now = new ArrayList<>(sockets);
            }
            for (Socket s : now) {
                if (stop.get()) {
                    return;
                }
                try {
                    InputStream in = s.getInputStream();
                    in.read(buf);
                } catch (SocketTimeoutException e) {
                    // nothing arrived within the socket's short timeout: on to the next
                } catch (IOException e) {
                    // cut by the proxy: that reader is done
                }
            }
            try {
                Thread.sleep(500); // the reader's pace, not a wait for an outcome
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static HttpResponse<String> get(HttpClient client, int port, String path) {
        try {
            return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
