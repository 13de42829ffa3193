package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ProxyProcess;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proxy as a process with few file descriptors, flooded with idle client connections, in front
 * of two healthy backends probed every 200 ms (one failed probe takes a backend out, so a single
 * probe lost to the flood would show).
 */
class DescriptorExhaustionTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern CAP = Pattern.compile("at most (\\d+) client connections");

    @TempDir
    Path dir;

    private TestBackend backend1;
    private TestBackend backend2;
    private final List<RawHttp> flood = new ArrayList<>();

    @BeforeEach
    void startBackends() throws IOException {
        backend1 = TestBackend.start("backend1", "127.0.0.1", 0);
        backend2 = TestBackend.start("backend2", "127.0.0.1", 0);
    }

    @AfterEach
    void closeEverything() {
        closeFlood();
        backend1.close();
        backend2.close();
    }

    /**
     * Under {@code ulimit -n 256} the proxy caps client connections below what its descriptors
     * allow; 400 idle connections fill the cap, the rest are closed at once, and the descriptors
     * kept in reserve let every accepted client still reach a backend and every probe still run.
     */
    @Test
    void connectionsBeyondTheDescriptorCapAreClosedAndBackendsStayHealthy() throws Exception {
        try (ProxyProcess proxy = ProxyProcess.startWithDescriptorLimit(256, List.of("-Xmx64m"), config().toString())) {
            int port = proxy.awaitListening(30, TimeUnit.SECONDS);
            int cap = capOf(proxy);
            assertThat(cap).isBetween(1, 255);
            awaitRoutingToBoth(port);

            openFlood(port, 400);
            // Every connection is accepted; at the cap the idle ones that waited longest are closed
            // to make room (a batch at a time), and what a burst took beyond the cap is given back
            // after it: none is left waiting in the listen backlog, and no more than `cap` stay.
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
                    .until(() -> closedByProxy().size() >= flood.size() - cap);
            Set<RawHttp> closed = closedByProxy();
            assertThat(flood.size() - closed.size()).isBetween(1, cap);

            // A new connection at the cap makes room for itself by closing idle ones, and is answered.
            for (int i = 0; i < 5; i++) {
                try (RawHttp raw = new RawHttp(port)) {
                    raw.socket().setSoTimeout(5000);
                    raw.send("GET /during-flood HTTP/1.1\r\nHost: h\r\n\r\n");
                    try {
                        assertThat(raw.read().status()).isEqualTo(200);
                    } catch (SocketTimeoutException e) {
                        fail("a request during the flood got neither an answer nor a close within 5 s");
                    }
                }
            }

            // A connection made at the cap still works end to end, over many probe rounds:
            // /_health says both backends are healthy and requests reach both.
            RawHttp held = new RawHttp(port);
            flood.add(held);
            Set<String> answeredBy = new HashSet<>();
            long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2000);
            while (System.nanoTime() < until) {
                held.send("GET /_health HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response health = held.read();
                assertThat(health.status()).isEqualTo(200);
                JSON.readTree(health.body()).get("backends").forEach(b -> assertThat(b.get("healthy").booleanValue()).isTrue());
                held.send("GET /which HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response r = held.read();
                assertThat(r.status()).isEqualTo(200);
                answeredBy.add(JSON.readTree(r.body()).get("backend").asText());
            }
            assertThat(answeredBy).containsExactlyInAnyOrder("backend1", "backend2");

            closeFlood();
            awaitRoutingToBoth(port);

            proxy.terminate();
            assertThat(proxy.awaitExit(20, TimeUnit.SECONDS)).isZero();
            String log = String.join("\n", proxy.output());
            assertThat(log).doesNotContain("IllegalStateException").doesNotContain("Too many open files")
                    .doesNotContain("is unhealthy").doesNotContain("tail of the pipeline");
            // The first refusal and at most one summary per 10 s.
            assertThat(linesContaining(proxy, "connection limit")).isBetween(1L, 4L);
        }
    }

    /**
     * The descriptor limit is lowered under the running proxy, below what its cap assumed: accepts
     * fail with EMFILE and so do the health probes' sockets. Accepting backs off and logs a few
     * lines, not one per attempt; once the idle clients leave, the proxy accepts again, the probes
     * find both backends healthy and requests are answered, without a restart.
     */
    @Test
    void acceptAndProbesRecoverOnTheirOwnAfterDescriptorsRunOut() throws Exception {
        try (ProxyProcess proxy = ProxyProcess.startWithDescriptorLimit(1024, List.of("-Xmx64m"), config().toString())) {
            int port = proxy.awaitListening(30, TimeUnit.SECONDS);
            assertThat(capOf(proxy)).isGreaterThan(300);
            awaitRoutingToBoth(port);

            long open = openDescriptors(proxy.pid());
            lowerDescriptorLimit(proxy.pid(), open + 60);
            openFlood(port, 200);
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100)).until(() ->
                    linesContaining(proxy, "accept failed") >= 1 && linesContaining(proxy, "is unhealthy") == 2);
            // The shortage lasts a while: accepting is retried several times (50 ms doubling to 1 s).
            Thread.sleep(3000);

            closeFlood();
            // Accepting resumes within 1 s of a free descriptor; a probe then succeeds within 200 ms.
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                    .until(() -> routesToBoth(port));

            proxy.terminate();
            assertThat(proxy.awaitExit(20, TimeUnit.SECONDS)).isZero();
            String log = String.join("\n", proxy.output());
            assertThat(log).doesNotContain("IllegalStateException").doesNotContain("tail of the pipeline")
                    .contains("is unhealthy: connect failed").contains("Too many open files");
            // The first failure, then at most one summary per 10 s.
            assertThat(linesContaining(proxy, "accept failed")).isBetween(1L, 3L);
            assertThat(linesContaining(proxy, "is healthy")).isEqualTo(2);
        }
    }

    // ---------------------------------------------------------------- helpers

    private Path config() throws IOException {
        return ProxyProcess.configFile(dir, "{\"listen\":{\"host\":\"127.0.0.1\",\"port\":0},"
                + "\"backends\":[{\"id\":\"backend1\",\"url\":\"" + backend1.url() + "\"},"
                + "{\"id\":\"backend2\",\"url\":\"" + backend2.url() + "\"}],"
                + "\"healthCheck\":{\"intervalMs\":200,\"timeoutMs\":2000,\"unhealthyThreshold\":1,\"healthyThreshold\":1},"
                + "\"server\":{\"ioThreads\":2},\"accessLog\":{\"enabled\":false}}");
    }

    private static int capOf(ProxyProcess proxy) {
        for (String line : proxy.output()) {
            Matcher m = CAP.matcher(line);
            if (line.contains("listening on") && m.find()) {
                return Integer.parseInt(m.group(1));
            }
        }
        throw new AssertionError("no client connection cap in the start-up line:\n" + String.join("\n", proxy.output()));
    }

    private static long linesContaining(ProxyProcess proxy, String text) {
        return proxy.output().stream().filter(l -> l.contains(text)).count();
    }

    private void openFlood(int port, int count) throws IOException {
        for (int i = 0; i < count; i++) {
            flood.add(new RawHttp(port));
        }
    }

    private void closeFlood() {
        for (RawHttp raw : flood) {
            try {
                raw.close();
            } catch (IOException e) {
                // already gone
            }
        }
        flood.clear();
    }

    /** Flood connections the proxy has closed (end of stream or reset), looked at 1 ms each. */
    private Set<RawHttp> closedByProxy() {
        Set<RawHttp> closed = new HashSet<>();
        for (RawHttp raw : flood) {
            try {
                if (raw.isClosedByPeer(1)) {
                    closed.add(raw);
                }
            } catch (IOException e) {
                closed.add(raw);
            }
        }
        return closed;
    }

    private static void awaitRoutingToBoth(int port) {
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
                .until(() -> routesToBoth(port));
    }

    /** /_health says both backends are healthy and two requests in a row reach both. */
    private static boolean routesToBoth(int port) throws IOException {
        try (RawHttp raw = new RawHttp(port)) {
            raw.socket().setSoTimeout(5000);
            raw.send("GET /_health HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response health = raw.read();
            if (health.status() != 200) {
                return false;
            }
            for (JsonNode b : JSON.readTree(health.body()).get("backends")) {
                if (!b.get("healthy").booleanValue()) {
                    return false;
                }
            }
            Set<String> answeredBy = new HashSet<>();
            for (int i = 0; i < 2; i++) {
                raw.send("GET /which HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response r = raw.read();
                if (r.status() != 200) {
                    return false;
                }
                answeredBy.add(JSON.readTree(r.body()).get("backend").asText());
            }
            return answeredBy.size() == 2;
        }
    }

    private static long openDescriptors(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return fds.count();
        }
    }

    private static void lowerDescriptorLimit(long pid, long limit) throws Exception {
        Process p = new ProcessBuilder("prlimit", "--pid", String.valueOf(pid), "--nofile=" + limit + ":" + limit)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new UncheckedIOException(new IOException("prlimit failed: " + out));
        }
    }
}
