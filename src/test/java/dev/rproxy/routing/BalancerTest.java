package dev.rproxy.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The balancers through the proxy: how requests spread over an upstream's backends by weight,
 * load and key, with real backends.
 */
class BalancerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private static String upstream(String balancer, String extra, String... backends) {
        return "\"healthCheck\": {\"enabled\": false}, \"upstreams\": {\"app\": {\"balancer\": \"" + balancer + "\""
                + extra + ", \"backends\": [" + String.join(",", backends) + "]}}";
    }

    private static String backend(TestBackend b, int weight) {
        return "{\"id\": \"" + b.id() + "\", \"url\": \"" + b.url() + "\", \"weight\": " + weight + "}";
    }

    /** The id of the backend that answered {@code path} with {@code headers} (name, value pairs). */
    private static String answeredBy(int port, String path, String... headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10));
        for (int i = 0; i < headers.length; i += 2) {
            request.header(headers[i], headers[i + 1]);
        }
        HttpResponse<String> response = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).get("backend").asText();
    }

    /** {@code total} requests, at most {@code concurrency} at once; the count of answers per backend. */
    private static Map<String, Integer> concurrently(int port, String path, int total, int concurrency,
                                                     String... headers) throws Exception {
        Semaphore slots = new Semaphore(concurrency);
        Map<String, Integer> counts = new ConcurrentHashMap<>();
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (int i = 0; i < total; i++) {
            assertThat(slots.tryAcquire(30, TimeUnit.SECONDS)).isTrue();
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                    .timeout(Duration.ofSeconds(20));
            for (int h = 0; h < headers.length; h += 2) {
                request.header(headers[h], headers[h + 1]);
            }
            all.add(HTTP.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString()).thenAccept(r -> {
                try {
                    assertThat(r.statusCode()).isEqualTo(200);
                    counts.merge(JSON.readTree(r.body()).get("backend").asText(), 1, Integer::sum);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }).whenComplete((v, e) -> slots.release()));
        }
        CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).get(60, TimeUnit.SECONDS);
        return counts;
    }

    @Test
    void leastRequestSendsLittleToASlowBackendWhereRoundRobinSendsItsShare() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                StatusBackend slow = new StatusBackend("slow", 200).delayMs(200)) {
            String backends = backend(a, 1) + "," + backend(b, 1) + "," + slow.json();
            Map<String, Integer> leastRequest;
            try (ConfiguredProxy proxy = new ConfiguredProxy(dir, upstream("least_request", "", backends))) {
                leastRequest = concurrently(proxy.port(), "/lr", 300, 12);
            }
            Map<String, Integer> roundRobin;
            try (ConfiguredProxy proxy = new ConfiguredProxy(dir, upstream("round_robin", "", backends))) {
                roundRobin = concurrently(proxy.port(), "/rr", 300, 12);
            }
            assertThat(roundRobin.get("slow")).as("round-robin: a third").isEqualTo(100);
            assertThat(leastRequest.getOrDefault("slow", 0)).as("least_request: %s", leastRequest).isLessThan(45);
        }
    }

    @Test
    void leastRequestFollowsTheWeightsWhenNothingIsInFlight() throws Exception {
        assertThat(shareOfA("least_request", 3, 1, 2000)).isBetween(0.72, 0.78);
    }

    @Test
    void randomFollowsTheWeights() throws Exception {
        assertThat(shareOfA("random", 1, 4, 2000)).isBetween(0.17, 0.23);
    }

    /** The share of {@code n} requests in a row that backend a answers, a and b weighted as given. */
    private double shareOfA(String balancer, int weightA, int weightB, int n) throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, upstream(balancer, "", backend(a, weightA), backend(b, weightB)))) {
            int answeredByA = 0;
            for (int i = 0; i < n; i++) {
                answeredByA += answeredBy(proxy.port(), "/share").equals("a") ? 1 : 0;
            }
            return answeredByA / (double) n;
        }
    }

    @Test
    void consistentHashKeepsAKeyOnOneBackendAndMovesAboutAQuarterWhenOneOfFourLeaves() throws Exception {
        List<TestBackend> backends = new ArrayList<>();
        try {
            StringBuilder list = new StringBuilder();
            for (String id : new String[] {"h1", "h2", "h3", "h4"}) {
                TestBackend b = TestBackend.start(id, "127.0.0.1", 0);
                backends.add(b);
                list.append(list.length() > 0 ? "," : "").append(backend(b, 1));
            }
            String config = "\"healthCheck\": {\"intervalMs\": 100, \"timeoutMs\": 1000},"
                    + "\"upstreams\": {\"app\": {\"balancer\": \"consistent_hash\", \"hashKey\": \"header:X-User\","
                    + "\"backends\": [" + list + "]}}";
            try (ConfiguredProxy proxy = new ConfiguredProxy(dir, config)) {
                int keys = 400;
                Map<String, String> before = new HashMap<>();
                Map<String, Integer> spread = new HashMap<>();
                for (int k = 0; k < keys; k++) {
                    String owner = answeredBy(proxy.port(), "/c", "X-User", "user-" + k);
                    before.put("user-" + k, owner);
                    spread.merge(owner, 1, Integer::sum);
                    assertThat(answeredBy(proxy.port(), "/c/again", "X-User", "user-" + k)).isEqualTo(owner);
                }
                for (String id : List.of("h1", "h2", "h3", "h4")) {
                    assertThat(spread.getOrDefault(id, 0)).as("keys on %s: %s", id, spread).isBetween(50, 150);
                }

                backends.get(2).setHealthy(false); // h3 leaves
                Upstream app = proxy.server().upstreams().get("app");
                await().atMost(Duration.ofSeconds(5)).until(() -> app.backends().routable().size() == 3);
                int moved = 0;
                for (int k = 0; k < keys; k++) {
                    String owner = answeredBy(proxy.port(), "/c", "X-User", "user-" + k);
                    String was = before.get("user-" + k);
                    if (!owner.equals(was)) {
                        moved++;
                        assertThat(was).as("only h3's keys move").isEqualTo("h3");
                    }
                }
                assertThat(moved).isEqualTo(spread.get("h3"));
                assertThat(moved / (double) keys).isBetween(0.15, 0.35);

                backends.get(2).setHealthy(true); // h3 returns, and so do its keys
                await().atMost(Duration.ofSeconds(5)).until(() -> app.backends().routable().size() == 4);
                for (int k = 0; k < keys; k++) {
                    assertThat(answeredBy(proxy.port(), "/c", "X-User", "user-" + k)).isEqualTo(before.get("user-" + k));
                }
            }
        } finally {
            backends.forEach(TestBackend::close);
        }
    }

    @Test
    void consistentHashByCookieIsSticky() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                TestBackend c = TestBackend.start("c", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, upstream("consistent_hash", ", \"hashKey\": \"cookie:session\"",
                        backend(a, 1), backend(b, 1), backend(c, 1)))) {
            Map<String, Integer> spread = new HashMap<>();
            for (int k = 0; k < 60; k++) {
                String owner = answeredBy(proxy.port(), "/s", "Cookie", "theme=dark; session=s" + k);
                assertThat(answeredBy(proxy.port(), "/s/2", "Cookie", "session=s" + k + "; lang=en")).isEqualTo(owner);
                assertThat(answeredBy(proxy.port(), "/s/3", "Cookie", "session=\"s" + k + "\"")).isEqualTo(owner);
                spread.merge(owner, 1, Integer::sum);
            }
            assertThat(spread).as("every backend has keys").hasSize(3);
        }
    }

    @Test
    void consistentHashPassesAHotKeyOnWhenItsBackendIsOverTheBound() throws Exception {
        try (StatusBackend a = new StatusBackend("a", 200).delayMs(300); StatusBackend b = new StatusBackend("b", 200).delayMs(300);
                StatusBackend c = new StatusBackend("c", 200).delayMs(300);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, upstream("consistent_hash", ", \"hashKey\": \"header:X-User\"",
                        a.json(), b.json(), c.json()))) {
            Map<String, Integer> counts = concurrently(proxy.port(), "/hot", 9, 9, "X-User", "the-one-hot-key");
            // Unbounded, all nine would go to one backend; at most 1.25x the mean (3) may.
            assertThat(counts.values().stream().mapToInt(Integer::intValue).max().orElse(0)).as("%s", counts).isLessThanOrEqualTo(4);
            assertThat(counts).hasSizeGreaterThan(1);
        }
    }

    @Test
    void consistentHashRingsAgreeAcrossProxiesWithTheSameBackends() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                TestBackend c = TestBackend.start("c", "127.0.0.1", 0)) {
            String config = upstream("consistent_hash", ", \"hashKey\": \"path\"", backend(a, 1), backend(b, 1), backend(c, 1));
            try (ConfiguredProxy one = new ConfiguredProxy(dir, config); ConfiguredProxy two = new ConfiguredProxy(dir, config)) {
                for (int k = 0; k < 50; k++) {
                    assertThat(answeredBy(two.port(), "/item/" + k + "?v=2")).isEqualTo(answeredBy(one.port(), "/item/" + k));
                }
            }
        }
    }
}
