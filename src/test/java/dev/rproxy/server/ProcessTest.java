package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.ProxyProcess;
import dev.rproxy.testbackend.TestBackend;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The daemon as a process: command line, exit codes, signals. */
class ProcessTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"listne\":{}, \"backends\":[{\"url\":\"http://127.0.0.1:1\"}]}|listne: unknown key",
        "{\"backends\":[]}|backends: required",
        "{\"backends\":[{\"url\":\"ftp://x\"}]}|backends[0].url: expected http://host:port",
        "{\"backends\":[{\"id\":\"a\",\"url\":\"http://h:1\"},{\"id\":\"a\",\"url\":\"http://h:2\"}]}|backends[1].id: duplicate id",
        "{\"backends\":[{\"url\":\"http://h:1\"}],\"pool\":{\"maxConnectionsPerBackend\":0}}|pool.maxConnectionsPerBackend: 0 (expected: >= 1)",
        "{\"backends\":[ {\"url\": }|invalid JSON at line 1, column",
    })
    void badConfigExitsTwoWithOneLineNamingThePath(String json, String expected) throws Exception {
        Path config = ProxyProcess.configFile(dir, json);
        try (ProxyProcess p = ProxyProcess.start(List.of(), config.toString())) {
            assertThat(p.awaitExit(30, TimeUnit.SECONDS)).isEqualTo(2);
            assertThat(p.output()).hasSize(1);
            assertThat(p.output().get(0)).contains(expected).doesNotContain("Exception").doesNotContain("\tat ");
        }
    }

    @Test
    void checkValidatesTheConfigurationAndTheFilesItNamesWithoutStarting() throws Exception {
        Path good = ProxyProcess.configFile(dir, "{\"listen\": {\"port\": 1}, \"backends\": [{\"url\": \"http://127.0.0.1:1\"}]}");
        try (ProxyProcess p = ProxyProcess.start(List.of(), "--check", good.toString())) {
            assertThat(p.awaitExit(30, TimeUnit.SECONDS)).isEqualTo(0);
            assertThat(String.join("\n", p.output())).contains(good + ": configuration ok").doesNotContain("listening");
        }
        Path missingCertificate = ProxyProcess.configFile(dir, "{\"listen\": {\"port\": 1, \"tls\": {\"certificates\": ["
                + "{\"certFile\": \"nope.pem\", \"keyFile\": \"nope.key\"}]}}, \"backends\": [{\"url\": \"http://127.0.0.1:1\"}]}");
        try (ProxyProcess p = ProxyProcess.start(List.of(), "--check", missingCertificate.toString())) {
            assertThat(p.awaitExit(30, TimeUnit.SECONDS)).isEqualTo(2);
            assertThat(p.output()).hasSize(1);
            assertThat(p.output().get(0)).contains("listen.tls.certificates[0].certFile: ").contains("nope.pem: cannot read");
        }
    }

    @Test
    void missingFileAndBadCommandLineExitTwo() throws Exception {
        try (ProxyProcess p = ProxyProcess.start(List.of(), dir.resolve("nope.json").toString())) {
            assertThat(p.awaitExit(30, TimeUnit.SECONDS)).isEqualTo(2);
            assertThat(String.join("\n", p.output())).contains("nope.json: no such file");
        }
        try (ProxyProcess p = ProxyProcess.start(List.of())) {
            assertThat(p.awaitExit(30, TimeUnit.SECONDS)).isEqualTo(2);
            assertThat(String.join("\n", p.output())).contains("usage:");
        }
    }

    @Test
    void versionAndHelpPrintAndExitZero() throws Exception {
        try (ProxyProcess p = ProxyProcess.start(List.of(), "--version")) {
            assertThat(p.awaitExit(30, TimeUnit.SECONDS)).isEqualTo(0);
            assertThat(p.output()).anyMatch(line -> line.matches("rproxy \\S+"));
        }
        try (ProxyProcess p = ProxyProcess.start(List.of(), "--help")) {
            assertThat(p.awaitExit(30, TimeUnit.SECONDS)).isEqualTo(0);
            assertThat(String.join("\n", p.output())).contains("--check <config.json>").contains("USR1");
        }
    }

    @Test
    void sigtermLetsInFlightExchangesFinishThenExitsZero() throws Exception {
        ExecutorService executor = Executors.newCachedThreadPool();
        try (TestBackend backend = TestBackend.start("slow", "127.0.0.1", 0)) {
            Path config = ProxyProcess.configFile(dir, "{\"listen\":{\"host\":\"127.0.0.1\",\"port\":0},"
                    + "\"backends\":[{\"id\":\"slow\",\"url\":\"" + backend.url() + "\"}],"
                    + "\"shutdown\":{\"graceMs\":10000}}");
            try (ProxyProcess p = ProxyProcess.start(List.of(), config.toString())) {
                int port = p.awaitListening(30, TimeUnit.SECONDS);
                HttpClient client = HttpClient.newBuilder().executor(executor).build();
                long before = backend.requestCount();
                CompletableFuture<HttpResponse<String>> inFlight = client.sendAsync(
                        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/delay?ms=1500"))
                                .timeout(Duration.ofSeconds(30)).build(),
                        HttpResponse.BodyHandlers.ofString());
                await().atMost(Duration.ofSeconds(10)).until(() -> backend.requestCount() > before);

                p.terminate();

                HttpResponse<String> response = inFlight.get(20, TimeUnit.SECONDS);
                assertThat(response.statusCode()).isEqualTo(200);
                assertThat(response.body()).contains("\"path\":\"/delay\"");
                assertThat(p.awaitExit(20, TimeUnit.SECONDS)).isZero();
                assertThat(String.join("\n", p.output())).contains("shutting down").contains("stopped");
            }
        } finally {
            executor.shutdownNow();
        }
    }
}
