package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.ProxyProcess;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code accessLog.format} and {@code accessLog.file}: the lines log tools read, rotation by
 * SIGUSR1, and what happens to lines the disk cannot take.
 */
class AccessLogTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static TestBackend backend;

    @TempDir
    Path dir;

    @BeforeAll
    static void startBackend() throws IOException {
        backend = TestBackend.start("b1", "127.0.0.1", 0);
    }

    @AfterAll
    static void stopBackend() {
        backend.close();
    }

    private String config(String format, Path file) {
        return "\"healthCheck\": {\"enabled\": false}, \"accessLog\": {\"format\": \"" + format + "\", \"file\": \""
                + file + "\"}, \"upstreams\": {\"app\": {\"backends\": [{\"id\": \"b1\", \"url\": \"" + backend.url()
                + "\"}]}}, \"routes\": [{\"match\": {\"pathPrefix\": \"/app\"}, \"upstream\": \"app\"}]";
    }

    private static RawHttp.Response send(int port, String head) throws Exception {
        try (RawHttp raw = new RawHttp(port)) {
            raw.send(head);
            return raw.read();
        }
    }

    /** The file's lines once it has at least {@code n}. */
    private static List<String> lines(Path file, int n) {
        List<String> lines = new ArrayList<>();
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            lines.clear();
            if (Files.exists(file)) {
                lines.addAll(Files.readAllLines(file));
            }
            return lines.size() >= n;
        });
        return lines;
    }

    @Test
    void jsonLinesAreOneObjectEachWithTheDocumentedFields() throws Exception {
        Path file = dir.resolve("access.json");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, config("json", file))) {
            Instant before = Instant.now();
            assertThat(send(proxy.port(), "GET /app/x?y=1 HTTP/1.1\r\nHost: h\r\nX-Request-Id: req-42\r\n\r\n").status())
                    .isEqualTo(200);
            Instant answered = Instant.now();
            assertThat(send(proxy.port(), "GET /elsewhere HTTP/1.1\r\nHost: h\r\n\r\n").status()).isEqualTo(404);
            List<String> lines = lines(file, 2);
            // Each event loop hands its connections' entries to the writer in batches: the lines
            // of two connections may come in either order.
            int first = JSON.readTree(lines.get(0)).get("status").intValue() == 200 ? 0 : 1;
            JsonNode ok = JSON.readTree(lines.get(first));
            List<String> names = new ArrayList<>();
            for (Iterator<String> it = ok.fieldNames(); it.hasNext(); ) {
                names.add(it.next());
            }
            assertThat(names).containsExactly("time", "requestId", "client", "method", "target", "protocol", "status",
                    "bytesIn", "bytesOut", "upstream", "backend", "attempts", "durationMs", "upstreamConnectMs",
                    "upstreamFirstByteMs");
            // The time the exchange ended, to the millisecond (a little slack for the clocks' own steps).
            assertThat(Instant.parse(ok.get("time").asText()))
                    .isBetween(before.minusMillis(50), answered.plusMillis(50));
            assertThat(ok.get("requestId").asText()).isEqualTo("req-42");
            assertThat(ok.get("client").asText()).isEqualTo("127.0.0.1");
            assertThat(ok.get("method").asText()).isEqualTo("GET");
            assertThat(ok.get("target").asText()).isEqualTo("/app/x?y=1");
            assertThat(ok.get("protocol").asText()).isEqualTo("HTTP/1.1");
            assertThat(ok.get("status").intValue()).isEqualTo(200);
            assertThat(ok.get("bytesOut").longValue()).isPositive();
            assertThat(ok.get("upstream").asText()).isEqualTo("app");
            assertThat(ok.get("backend").asText()).isEqualTo("b1");
            assertThat(ok.get("attempts").intValue()).isEqualTo(1);
            assertThat(ok.get("upstreamConnectMs").isIntegralNumber()).isTrue();
            assertThat(ok.get("upstreamFirstByteMs").isIntegralNumber()).isTrue();

            JsonNode none = JSON.readTree(lines.get(1 - first));
            assertThat(none.get("status").intValue()).isEqualTo(404);
            assertThat(none.get("upstream").asText()).isEqualTo("-");
            assertThat(none.get("upstreamConnectMs").isNull()).isTrue();
            assertThat(none.get("requestId").asText()).matches("[0-9a-f]{16}");
        }
    }

    @Test
    void theRequestIdTheBackendGetsIsTheOneLogged() throws Exception {
        Path file = dir.resolve("ids.json");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, config("json", file))) {
            RawHttp.Response generated = send(proxy.port(), "GET /app/g HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response kept = send(proxy.port(), "GET /app/k HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc-1\r\n\r\n");
            RawHttp.Response replaced = send(proxy.port(), "GET /app/r HTTP/1.1\r\nHost: h\r\nX-Request-Id: " + "x".repeat(129)
                    + "\r\n\r\n");
            send(proxy.port(), "GET /app/q HTTP/1.1\r\nHost: h\r\nX-Request-Id: a\"b\\c{}\r\n\r\n");
            String longTarget = "/app/" + "y".repeat(6000); // written in more than one piece
            send(proxy.port(), "GET " + longTarget + " HTTP/1.1\r\nHost: h\r\nX-Request-Id: long\r\n\r\n");
            Map<String, String> idByTarget = new HashMap<>();
            for (String line : lines(file, 5)) {
                JsonNode node = JSON.readTree(line);
                idByTarget.put(node.get("target").asText(), node.get("requestId").asText());
            }
            String generatedId = idByTarget.get("/app/g");
            assertThat(generatedId).matches("[0-9a-f]{16}");
            assertThat(JSON.readTree(generated.bodyText()).at("/headers/x-request-id/0").asText()).isEqualTo(generatedId);
            assertThat(JSON.readTree(kept.bodyText()).at("/headers/x-request-id/0").asText()).isEqualTo("abc-1");
            assertThat(idByTarget.get("/app/k")).isEqualTo("abc-1");
            String replacedId = idByTarget.get("/app/r");
            assertThat(replacedId).matches("[0-9a-f]{16}"); // too long to keep
            assertThat(JSON.readTree(replaced.bodyText()).at("/headers/x-request-id").size()).isEqualTo(1);
            assertThat(JSON.readTree(replaced.bodyText()).at("/headers/x-request-id/0").asText()).isEqualTo(replacedId);
            assertThat(idByTarget.get("/app/q")).isEqualTo("a\"b\\c{}"); // escaped in the line, read back as sent
            assertThat(idByTarget.get(longTarget)).isEqualTo("long");
        }
    }

    @Test
    void combinedLinesParseAsApacheAndNginxWriteThem() throws Exception {
        Path file = dir.resolve("access.log");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, config("combined", file))) {
            send(proxy.port(), "GET /app/c?q=1 HTTP/1.1\r\nHost: h\r\nReferer: http://ref/\"q\r\nUser-Agent: agent/1\r\n\r\n");
            send(proxy.port(), "GET /app/plain HTTP/1.0\r\n\r\n");
            List<String> lines = lines(file, 2);
            assertThat(lines.get(0)).matches("127\\.0\\.0\\.1 - - \\[\\d{2}/[A-Z][a-z]{2}/\\d{4}:\\d{2}:\\d{2}:\\d{2} \\+0000\\] "
                    + "\"GET /app/c\\?q=1 HTTP/1\\.1\" 200 \\d+ \"http://ref/\\\\x22q\" \"agent/1\"");
            assertThat(lines.get(1)).endsWith("\"GET /app/plain HTTP/1.0\" 200 " + lines.get(1).split(" ")[9] + " \"-\" \"-\"");
        }
    }

    @Test
    void theDefaultLineGoesToAFileWithItsTime() throws Exception {
        Path file = dir.resolve("plain.log");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, config("default", file))) {
            send(proxy.port(), "GET /app/d HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(lines(file, 1).get(0)).matches("\\S+Z access 127\\.0\\.0\\.1 \"GET /app/d\" 200 0 \\d+ b1 \\d+ms");
        }
    }

    /**
     * A log nobody can write (a FIFO no one reads: the writer blocks opening it) must not hold
     * requests up: once its queue is full, lines are dropped and counted, and when the FIFO is read
     * at last every line is either in it or among the dropped.
     */
    @Test
    void linesTheWriterCannotTakeAreDroppedAndCountedWhileRequestsGoOn() throws Exception {
        Path fifo = dir.resolve("blocked.log");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        int requests = 800; // lines of about 8 KB: twice what the queue holds
        String target = "/app/" + "z".repeat(8000);
        AtomicLong linesRead = new AtomicLong();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = Files.newBufferedReader(fifo)) {
                while (in.readLine() != null) {
                    linesRead.incrementAndGet();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        reader.setDaemon(true);
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"admin\": {\"host\": \"127.0.0.1\", \"port\": 0}, "
                + config("json", fifo))) {
            try {
                try (RawHttp raw = new RawHttp(proxy.port())) {
                    for (int i = 0; i < requests; i++) {
                        raw.send("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
                        assertThat(raw.read().status()).isEqualTo(200);
                    }
                }
                assertThat(dropped(proxy)).isGreaterThan(0);
            } finally {
                reader.start(); // the writer's open returns, and what it holds is written
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> linesRead.get() + dropped(proxy) == requests);
            assertThat(linesRead.get()).isGreaterThan(0);
        } finally {
            if (reader.isAlive()) {
                // A reader still opening the FIFO gets a writer and an end (opened for reading and
                // writing, which on Linux never waits for the other side).
                new RandomAccessFile(fifo.toFile(), "rw").close();
            }
            reader.join(10_000);
        }
    }

    /** {@code rproxy_access_log_dropped_total} on the admin listener. */
    private static long dropped(ConfiguredProxy proxy) throws Exception {
        try (RawHttp raw = new RawHttp(proxy.server().adminPort())) {
            raw.send("GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
            for (String line : raw.read().bodyText().split("\n")) {
                if (line.startsWith("rproxy_access_log_dropped_total ")) {
                    return (long) Double.parseDouble(line.substring(line.indexOf(' ') + 1));
                }
            }
        }
        throw new AssertionError("no rproxy_access_log_dropped_total in /metrics");
    }

    @Test
    void sigusr1ReopensTheFileAfterItWasMovedAway() throws Exception {
        Path file = dir.resolve("rotated.log");
        Path config = ProxyProcess.configFile(dir, "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0}, " + config("json", file) + "}");
        try (ProxyProcess process = ProxyProcess.start(List.of(), config.toString())) {
            int port = process.awaitListening(20, TimeUnit.SECONDS);
            send(port, "GET /app/before HTTP/1.1\r\nHost: h\r\n\r\n");
            lines(file, 1);
            Path moved = dir.resolve("rotated.log.1");
            Files.move(file, moved);
            new ProcessBuilder("kill", "-USR1", Long.toString(process.pid())).start().waitFor(5, TimeUnit.SECONDS);
            // Until the writer has reopened, a line may still go to the moved file: send until one reaches the new one.
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                send(port, "GET /app/after HTTP/1.1\r\nHost: h\r\n\r\n");
                return Files.exists(file) && Files.readString(file).contains("/app/after");
            });
            assertThat(Files.readString(moved)).contains("/app/before");
            assertThat(Files.readString(file)).doesNotContain("/app/before");
        }
    }
}
