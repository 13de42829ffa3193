package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.backend.Backend;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.ProxyProcess;
import dev.rproxy.support.WebSocketEchoBackend;
import dev.rproxy.testbackend.TestBackend;
import java.io.IOException;
import java.net.ConnectException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hot reload: a new configuration takes effect for new requests while exchanges in flight finish,
 * backends kept keep their state and connections, a refused file changes nothing; by the admin
 * API, SIGHUP and a watched file.
 */
class ReloadTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static TestBackend a;
    private static TestBackend b;

    @TempDir
    Path dir;

    @BeforeAll
    static void startBackends() throws IOException {
        a = TestBackend.start("a", "127.0.0.1", 0);
        b = TestBackend.start("b", "127.0.0.1", 0);
    }

    @AfterAll
    static void stopBackends() {
        a.close();
        b.close();
    }

    /** Upstream "app" with {@code backends} (ids a or b), all paths routed to it. */
    private static String members(String extra, TestBackend... backends) {
        StringBuilder list = new StringBuilder();
        for (TestBackend t : backends) {
            list.append(list.length() > 0 ? "," : "").append("{\"id\": \"").append(t.id()).append("\", \"url\": \"")
                    .append(t.url()).append("\"}");
        }
        return "\"healthCheck\": {\"enabled\": false}, \"server\": {\"ioThreads\": 1}, \"admin\": {\"host\": \"127.0.0.1\", \"port\": 0}"
                + extra + ", \"upstreams\": {\"app\": {\"backends\": [" + list + "]}}, \"routes\": [{\"upstream\": \"app\"}]";
    }

    private static void rewrite(ConfiguredProxy proxy, String members) throws IOException {
        Files.writeString(proxy.file(), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0}, " + members + "}");
    }

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String backendOf(HttpResponse<String> response) throws Exception {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).get("backend").asText();
    }

    @Test
    void newRequestsFollowTheNewBackendsWhileAnExchangeInFlightFinishesAndAKeptBackendKeepsItsConnection() throws Exception {
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members("", a))) {
            assertThat(backendOf(get(proxy.port(), "/warm"))).isEqualTo("a");
            Backend before = proxy.server().upstreams().backend("a");
            int connections = a.acceptedConnections();
            CompletableFuture<HttpResponse<String>> inFlight = HTTP.sendAsync(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + proxy.port() + "/delay?ms=1000")).build(), HttpResponse.BodyHandlers.ofString());
            await().atMost(Duration.ofSeconds(5)).until(() -> before.activeConnections() == 1);

            rewrite(proxy, members("", a, b));
            String outcome = proxy.server().reloadAsync().get(10, TimeUnit.SECONDS);
            assertThat(outcome).contains("1 backends kept, 1 added, 0 removed");

            assertThat(proxy.server().upstreams().backend("a")).as("carried over, the same object").isSameAs(before);
            assertThat(backendOf(get(proxy.port(), "/one"))).isIn("a", "b");
            assertThat(backendOf(get(proxy.port(), "/two"))).isIn("a", "b");
            assertThat(backendOf(inFlight.get(10, TimeUnit.SECONDS))).isEqualTo("a");
            // The in-flight exchange had one connection; the kept backend's pool served the rest.
            assertThat(a.acceptedConnections()).isLessThanOrEqualTo(connections + 1);

            rewrite(proxy, members("", b));
            assertThat(proxy.server().reloadAsync().get(10, TimeUnit.SECONDS)).contains("1 backends kept, 0 added, 1 removed")
                    .doesNotContain("could not");
            for (int i = 0; i < 4; i++) {
                assertThat(backendOf(get(proxy.port(), "/after"))).isEqualTo("b");
            }
        }
    }

    @Test
    void aWebSocketAndALongDownloadSurviveAReloadThatRemovesTheirBackends() throws Exception {
        try (WebSocketEchoBackend echo = new WebSocketEchoBackend();
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"upstreams\": {\"ws\": {\"backends\": [{\"id\": \"echo\", \"url\": \"" + echo.url() + "\"}]},"
                        + "  \"app\": {\"backends\": [{\"id\": \"a\", \"url\": \"" + a.url() + "\"}]}},"
                        + "\"routes\": [{\"match\": {\"pathPrefix\": \"/ws\"}, \"upstream\": \"ws\"}, {\"upstream\": \"app\"}]")) {
            java.util.concurrent.BlockingQueue<String> texts = new java.util.concurrent.LinkedBlockingQueue<>();
            java.net.http.WebSocket ws = HTTP.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:" + proxy.port() + "/ws"),
                    new java.net.http.WebSocket.Listener() {
                        @Override
                        public java.util.concurrent.CompletionStage<?> onText(java.net.http.WebSocket socket, CharSequence data,
                                                                              boolean last) {
                            texts.add(data.toString());
                            socket.request(1);
                            return null;
                        }
                    }).get(10, TimeUnit.SECONDS);
            ws.sendText("before", true).get(5, TimeUnit.SECONDS);
            assertThat(texts.poll(5, TimeUnit.SECONDS)).isEqualTo("before");

            long size = 64L << 20;
            HttpResponse<java.io.InputStream> download = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + proxy.port() + "/stream?bytes=" + size)).build(), HttpResponse.BodyHandlers.ofInputStream());
            java.io.InputStream body = download.body();
            byte[] buffer = new byte[64 * 1024];
            long read = body.readNBytes(buffer, 0, buffer.length);

            rewrite(proxy, members("", b));
            assertThat(proxy.server().reloadAsync().get(10, TimeUnit.SECONDS)).contains("0 backends kept, 1 added, 2 removed");

            ws.sendText("after", true).get(5, TimeUnit.SECONDS);
            assertThat(texts.poll(5, TimeUnit.SECONDS)).as("the tunnel goes on").isEqualTo("after");
            for (int n; (n = body.read(buffer)) > 0; ) {
                read += n;
            }
            assertThat(read).as("the download goes on to its end").isEqualTo(size);
            assertThat(backendOf(get(proxy.port(), "/new"))).isEqualTo("b");
            ws.sendClose(java.net.http.WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aRefusedFileChangesNothing() throws Exception {
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members("", a))) {
            Files.writeString(proxy.file(), "{\"backends\": [{\"url\": \"ftp://x\"}]}");
            assertThatThrownBy(() -> proxy.server().reloadAsync().get(10, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .satisfies(e -> assertThat(e.getCause().getMessage())
                            .isEqualTo("backends[0].url: expected http://host:port or https://host:port, got \"ftp://x\""));
            assertThat(backendOf(get(proxy.port(), "/still"))).isEqualTo("a");

            HttpResponse<String> viaAdmin = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + proxy.server().adminPort() + "/admin/reload")).POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(viaAdmin.statusCode()).isEqualTo(400);
            assertThat(JSON.readTree(viaAdmin.body()).get("error").asText()).startsWith("backends[0].url:");

            rewrite(proxy, members("", b));
            HttpResponse<String> applied = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + proxy.server().adminPort() + "/admin/reload")).POST(HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(applied.statusCode()).isEqualTo(200);
            assertThat(backendOf(get(proxy.port(), "/now"))).isEqualTo("b");
            String metrics = get(proxy.server().adminPort(), "/metrics").body();
            assertThat(metrics).contains("rproxy_config_reloads_total{result=\"refused\"} 2.0")
                    .contains("rproxy_config_reloads_total{result=\"applied\"} 1.0");
        }
    }

    @Test
    void aListenerAddedStartsAcceptingAndOneRemovedStops() throws Exception {
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members("", a))) {
            int first = proxy.port(0);
            Files.writeString(proxy.file(), "{\"listen\": [{\"host\": \"127.0.0.1\", \"port\": " + first + "},"
                    + "{\"host\": \"127.0.0.1\", \"port\": 0, \"protocols\": [\"h2c\", \"http/1.1\"]}], " + members("", a) + "}");
            proxy.server().reloadAsync().get(10, TimeUnit.SECONDS);
            assertThat(proxy.port(0)).as("the unchanged listener is kept").isEqualTo(first);
            int second = proxy.port(1);
            assertThat(backendOf(get(second, "/second"))).isEqualTo("a");

            Files.writeString(proxy.file(), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": " + first + "}, "
                    + members("", a) + "}");
            assertThat(proxy.server().reloadAsync().get(10, TimeUnit.SECONDS)).contains("0 bound, 1 closed");
            assertThat(backendOf(get(first, "/kept"))).isEqualTo("a");
            assertThatThrownBy(() -> new Socket("127.0.0.1", second).close()).isInstanceOf(ConnectException.class);
        }
    }

    @Test
    void aWatchedFileIsReloadedWhenItChanges() throws Exception {
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members(", \"watchConfig\": true", a))) {
            assertThat(backendOf(get(proxy.port(), "/w"))).isEqualTo("a");
            rewrite(proxy, members(", \"watchConfig\": true", b) + ", \"limits\": {\"maxHeaderCount\": 99}");
            await().atMost(Duration.ofSeconds(10)).until(() -> backendOf(get(proxy.port(), "/w")).equals("b"));
        }
    }

    @Test
    void sighupReloadsTheFile() throws Exception {
        Path config = ProxyProcess.configFile(dir, "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0}, " + members("", a) + "}");
        try (ProxyProcess process = ProxyProcess.start(List.of(), config.toString())) {
            int port = process.awaitListening(20, TimeUnit.SECONDS);
            assertThat(backendOf(get(port, "/h"))).isEqualTo("a");
            Files.writeString(config, "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": " + port + "}, " + members("", b) + "}");
            new ProcessBuilder("kill", "-HUP", Long.toString(process.pid())).start().waitFor(5, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(10)).until(() -> backendOf(get(port, "/h")).equals("b"));
            assertThat(String.join("\n", process.output())).contains("configuration reloaded");
        }
    }
}
