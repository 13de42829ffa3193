package dev.rproxy.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.StatusBackend;
import dev.rproxy.testbackend.TestBackend;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Failures absorbed: outlier detection ejects a failing backend (for twice as long each time, never
 * more than its share of the group), panic mode balances over every backend when too few are
 * healthy, slow start eases a returning backend in, and /_health/backends/{id} says why.
 */
class PassiveHealthTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private static HttpResponse<String> get(ConfiguredProxy proxy, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode explain(ConfiguredProxy proxy, String id) throws Exception {
        HttpResponse<String> response = get(proxy, "/_health/backends/" + id);
        assertThat(response.statusCode()).isEqualTo(200);
        return JSON.readTree(response.body());
    }

    private static String backend(TestBackend b) {
        return "{\"id\": \"" + b.id() + "\", \"url\": \"" + b.url() + "\"}";
    }

    /** Requests until {@code bad} has answered {@code n} more; returns how many were sent. */
    private static int untilAnswered(ConfiguredProxy proxy, StatusBackend bad, int n) throws Exception {
        int target = bad.requests() + n;
        int sent = 0;
        while (bad.requests() < target) {
            get(proxy, "/work");
            assertThat(++sent).as("requests before %s answered %d", bad.id(), n).isLessThan(100);
        }
        return sent;
    }

    @Test
    void consecutiveFailuresEjectForTwiceAsLongEachTimeAndTheEjectionEnds() throws Exception {
        try (TestBackend good1 = TestBackend.start("good1", "127.0.0.1", 0);
                TestBackend good2 = TestBackend.start("good2", "127.0.0.1", 0);
                StatusBackend bad = new StatusBackend("bad", 500);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"upstreams\": {\"app\": {\"backends\": [" + backend(good1) + "," + backend(good2) + ","
                        + bad.json() + "], \"retries\": {\"attempts\": 0},"
                        + "\"outlierDetection\": {\"consecutiveFailures\": 3, \"baseEjectionMs\": 400}}}")) {
            untilAnswered(proxy, bad, 3);
            JsonNode ejected = explain(proxy, "bad");
            assertThat(ejected.get("state").asText()).isEqualTo("ejected");
            assertThat(ejected.get("reason").asText()).contains("3 failures in a row").contains("status 500");
            assertThat(ejected.get("routed").booleanValue()).isFalse();
            assertThat(ejected.get("passive").get("ejections").get(0).get("durationMs").intValue()).isEqualTo(400);
            int before = bad.requests();
            for (int i = 0; i < 10; i++) {
                assertThat(get(proxy, "/work").statusCode()).isEqualTo(200);
            }
            assertThat(bad.requests()).as("ejected: no traffic").isEqualTo(before);

            await().atMost(Duration.ofSeconds(5)).until(() -> explain(proxy, "bad").get("state").asText().equals("healthy"));
            untilAnswered(proxy, bad, 3);
            JsonNode again = explain(proxy, "bad");
            assertThat(again.get("state").asText()).isEqualTo("ejected");
            assertThat(again.get("passive").get("ejectionCount").intValue()).isEqualTo(2);
            assertThat(again.get("passive").get("ejections").get(1).get("durationMs").intValue()).as("doubled").isEqualTo(800);
            assertThat(again.get("passive").get("failures").intValue()).isEqualTo(6);
        }
    }

    @Test
    void neverMoreThanMaxEjectionPercentOfTheGroupIsEjected() throws Exception {
        try (TestBackend good = TestBackend.start("good", "127.0.0.1", 0);
                StatusBackend bad1 = new StatusBackend("bad1", 503);
                StatusBackend bad2 = new StatusBackend("bad2", 502);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"upstreams\": {\"app\": {\"backends\": [" + backend(good) + "," + bad1.json() + "," + bad2.json()
                        + "], \"retries\": {\"attempts\": 0}, \"outlierDetection\": {\"consecutiveFailures\": 2,"
                        + " \"baseEjectionMs\": 60000, \"maxEjectionPercent\": 50}}}")) {
            for (int i = 0; i < 30; i++) {
                get(proxy, "/work");
            }
            String state1 = explain(proxy, "bad1").get("state").asText();
            String state2 = explain(proxy, "bad2").get("state").asText();
            assertThat(new String[] {state1, state2}).as("one of three may be ejected at 50%").containsExactlyInAnyOrder("ejected", "healthy");
        }
    }

    @Test
    void panicBalancesOverEveryBackendWhenFewerThanTheThresholdAreHealthy() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                TestBackend c = TestBackend.start("c", "127.0.0.1", 0)) {
            String backends = backend(a) + "," + backend(b) + "," + backend(c);
            String probes = "\"healthCheck\": {\"intervalMs\": 100, \"timeoutMs\": 1000}, ";
            try (ConfiguredProxy proxy = new ConfiguredProxy(dir, probes
                    + "\"upstreams\": {\"app\": {\"backends\": [" + backends + "]}}");
                    ConfiguredProxy noPanic = new ConfiguredProxy(dir, probes
                    + "\"upstreams\": {\"app\": {\"backends\": [" + backends + "], \"panicThresholdPercent\": 0}}")) {
                b.setHealthy(false);
                c.setHealthy(false);
                for (ConfiguredProxy p : new ConfiguredProxy[] {proxy, noPanic}) {
                    await().atMost(Duration.ofSeconds(5))
                            .until(() -> p.server().upstreams().get("app").backends().routable().size() == 1);
                }
                JsonNode health = JSON.readTree(get(proxy, "/_health").body());
                assertThat(health.get("upstreams").get("app").get("panic").booleanValue()).isTrue();
                assertThat(health.get("status").asText()).isEqualTo("healthy");
                Map<String, Integer> panicked = spread(proxy, 30);
                assertThat(panicked).as("1 of 3 healthy, under 50%%: all three share").containsOnlyKeys("a", "b", "c");
                assertThat(spread(noPanic, 30)).containsOnlyKeys("a");

                a.setHealthy(false); // none healthy: no panic over nothing, 503 at once
                await().atMost(Duration.ofSeconds(5))
                        .until(() -> proxy.server().upstreams().get("app").backends().routable().isEmpty());
                HttpResponse<String> none = get(proxy, "/x");
                assertThat(none.statusCode()).isEqualTo(503);
                assertThat(none.body()).isEqualTo("no healthy backend\n");
            }
        }
    }

    private static Map<String, Integer> spread(ConfiguredProxy proxy, int n) throws Exception {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < n; i++) {
            HttpResponse<String> response = get(proxy, "/spread");
            assertThat(response.statusCode()).isEqualTo(200);
            counts.merge(JSON.readTree(response.body()).get("backend").asText(), 1, Integer::sum);
        }
        return counts;
    }

    @Test
    void aReturningBackendWarmsUpWhileOnePresentAtStartGetsItsFullShareAtOnce() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"intervalMs\": 100, \"timeoutMs\": 1000},"
                        + "\"upstreams\": {\"app\": {\"backends\": [" + backend(a) + "," + backend(b) + "],"
                        + "\"slowStartMs\": 5000}}")) {
            assertThat(spread(proxy, 100).get("b")).as("present at start: full share").isEqualTo(50);

            b.setHealthy(false);
            await().atMost(Duration.ofSeconds(5)).until(() -> explain(proxy, "b").get("state").asText().equals("down"));
            JsonNode down = explain(proxy, "b");
            assertThat(down.get("reason").asText()).contains("status 503");
            JsonNode lastProbe = down.get("activeChecks").get("probes").get(down.get("activeChecks").get("probes").size() - 1);
            assertThat(lastProbe.get("ok").booleanValue()).isFalse();
            assertThat(lastProbe.get("outcome").asText()).isEqualTo("status 503");

            b.setHealthy(true);
            await().atMost(Duration.ofSeconds(5)).until(() -> !explain(proxy, "b").get("state").asText().equals("down"));
            JsonNode warming = explain(proxy, "b");
            assertThat(warming.get("state").asText()).isEqualTo("slow_start");
            assertThat(warming.get("effectiveWeight").doubleValue()).isLessThan(1.0);
            int share = spread(proxy, 100).getOrDefault("b", 0);
            assertThat(share).as("warming up over 5 s: well under half").isBetween(1, 30);
        }
    }

    @Test
    void anUnknownBackendIdIs404() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"backends\": [" + backend(a) + "]")) {
            HttpResponse<String> response = get(proxy, "/_health/backends/nope");
            assertThat(response.statusCode()).isEqualTo(404);
            assertThat(JSON.readTree(response.body()).get("error").asText()).contains("nope");
            JsonNode known = explain(proxy, "a");
            assertThat(known.get("upstream").asText()).isEqualTo("default");
            assertThat(known.get("state").asText()).isEqualTo("healthy");
            assertThat(known.get("activeChecks").get("enabled").booleanValue()).isFalse();
        }
    }
}
