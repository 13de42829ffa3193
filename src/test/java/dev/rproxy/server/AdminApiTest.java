package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.testbackend.TestBackend;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The admin listener's API: upstreams, the running configuration, draining and enabling a backend. */
class AdminApiTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private static HttpResponse<String> call(int port, String method, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10))
                .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String backendOf(HttpResponse<String> response) throws Exception {
        assertThat(response.statusCode()).isEqualTo(200);
        return JSON.readTree(response.body()).get("backend").asText();
    }

    @Test
    void drainingABackendLetsItsRequestsFinishAndSendsNoNewOnes() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"admin\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                        + "\"backends\": [{\"id\": \"a\", \"url\": \"" + a.url() + "\"}, {\"id\": \"b\", \"url\": \"" + b.url() + "\"}]")) {
            int admin = proxy.server().adminPort();
            JsonNode upstreams = JSON.readTree(call(admin, "GET", "/admin/upstreams").body()).get("upstreams");
            assertThat(upstreams.get("default").get("backends")).hasSize(2);
            assertThat(upstreams.get("default").get("backends").get(0).get("state").asText()).isEqualTo("healthy");

            // Round-robin: the first request goes to a and is still in flight when a is drained.
            CompletableFuture<HttpResponse<String>> inFlight = HTTP.sendAsync(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + proxy.port() + "/delay?ms=800")).build(), HttpResponse.BodyHandlers.ofString());
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5))
                    .until(() -> proxy.server().backends().all().get(0).activeConnections() == 1);
            HttpResponse<String> drained = call(admin, "POST", "/admin/backends/a/drain");
            assertThat(drained.statusCode()).isEqualTo(200);
            JsonNode state = JSON.readTree(drained.body());
            assertThat(state.get("changed").booleanValue()).isTrue();
            assertThat(state.get("state").asText()).isEqualTo("draining");
            assertThat(state.get("inFlight").intValue()).isEqualTo(1);

            Set<String> answered = new HashSet<>();
            for (int i = 0; i < 6; i++) {
                answered.add(backendOf(call(proxy.port(), "GET", "/after-drain")));
            }
            assertThat(answered).containsExactly("b");
            assertThat(backendOf(inFlight.get(10, TimeUnit.SECONDS))).as("the request in flight finished").isEqualTo("a");
            JsonNode explained = JSON.readTree(call(proxy.port(), "GET", "/_health/backends/a").body());
            assertThat(explained.get("state").asText()).isEqualTo("draining");
            assertThat(explained.get("reason").asText()).contains("admin API");
            assertThat(JSON.readTree(call(admin, "POST", "/admin/backends/a/drain").body()).get("changed").booleanValue())
                    .as("draining twice changes nothing").isFalse();

            assertThat(call(admin, "POST", "/admin/backends/a/enable").statusCode()).isEqualTo(200);
            answered.clear();
            for (int i = 0; i < 6; i++) {
                answered.add(backendOf(call(proxy.port(), "GET", "/after-enable")));
            }
            assertThat(answered).containsExactlyInAnyOrder("a", "b");
        }
    }

    @Test
    void configErrorsAndWhatIsNotThere() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"admin\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                        + "\"upstreams\": {\"app\": {\"backends\": [{\"id\": \"a\", \"url\": \"" + a.url() + "\"}],"
                        + " \"balancer\": \"least_request\"}}")) {
            int admin = proxy.server().adminPort();
            HttpResponse<String> config = call(admin, "GET", "/admin/config");
            assertThat(config.statusCode()).isEqualTo(200);
            JsonNode running = JSON.readTree(config.body());
            assertThat(running.get("upstreams").get("app").get("balancer").asText()).isEqualTo("least_request");
            assertThat(running.get("admin").get("host").asText()).isEqualTo("127.0.0.1");
            assertThat(running.get("listen").get(0).get("port").intValue()).isZero();

            HttpResponse<String> get = call(admin, "GET", "/admin/backends/a/drain");
            assertThat(get.statusCode()).isEqualTo(405);
            assertThat(get.headers().firstValue("allow")).hasValue("POST");
            assertThat(call(admin, "POST", "/admin/backends/nope/drain").statusCode()).isEqualTo(404);
            assertThat(call(admin, "GET", "/admin/nothing").statusCode()).isEqualTo(404);
            assertThat(call(admin, "POST", "/admin/upstreams").statusCode()).isEqualTo(405);

            HttpResponse<String> page = call(admin, "GET", "/");
            assertThat(page.statusCode()).isEqualTo(200);
            assertThat(page.headers().firstValue("content-type")).hasValue("text/html; charset=utf-8");
            assertThat(page.headers().firstValue("content-security-policy").orElse("")).startsWith("default-src 'none'");
            assertThat(page.body()).contains("/admin/stats").doesNotContain("http://").doesNotContain("https://");
            JsonNode stats = JSON.readTree(call(admin, "GET", "/admin/stats").body());
            assertThat(stats.get("upstreams").get(0).get("name").asText()).isEqualTo("app");
            assertThat(stats.get("upstreams").get(0).get("statusClasses")).hasSize(5);
            assertThat(stats.get("upstreams").get(0).get("durationBuckets")).hasSize(stats.get("bounds").size() + 1);
            assertThat(stats.get("upstreams").get(0).get("backends").get(0).get("state").asText()).isEqualTo("healthy");
            assertThat(stats.has("fleet")).as("no redis, no fleet").isFalse();

            // The proxied port knows nothing of the admin API: the request goes to the backend.
            assertThat(backendOf(call(proxy.port(), "GET", "/admin/upstreams"))).isEqualTo("a");
        }
    }
}
