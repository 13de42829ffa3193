package dev.rproxy.routing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.StatusBackend;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code upstreams.NAME.retries}: which failures are sent to another backend, which requests may
 * be sent again, and the budget that keeps a failing group from a retry storm.
 */
class RetryPolicyTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private ConfiguredProxy proxy(String retries, String extra, StatusBackend... backends) throws Exception {
        StringBuilder list = new StringBuilder();
        for (StatusBackend b : backends) {
            list.append(list.length() > 0 ? "," : "").append(b.json());
        }
        return new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false}" + extra + ","
                + "\"upstreams\": {\"app\": {\"backends\": [" + list + "], \"retries\": " + retries + "}}");
    }

    private static HttpResponse<String> send(ConfiguredProxy proxy, String method, byte[] body, String... headers)
            throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/op"))
                .timeout(Duration.ofSeconds(10))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
        for (int i = 0; i < headers.length; i += 2) {
            request.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The statuses of {@code n} requests, in order. */
    private static List<Integer> statuses(ConfiguredProxy proxy, int n, String method, byte[] body, String... headers)
            throws Exception {
        List<Integer> statuses = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            statuses.add(send(proxy, method, body, headers).statusCode());
        }
        return statuses;
    }

    @Test
    void aListedStatusIsRetriedOnAnotherBackendForIdempotentRequestsOnly() throws Exception {
        try (StatusBackend bad = new StatusBackend("bad", 503); StatusBackend good = new StatusBackend("good", 200);
                ConfiguredProxy proxy = proxy("{\"attempts\": 1, \"on\": [\"503\"]}", "", bad, good)) {
            assertThat(statuses(proxy, 10, "GET", null)).containsOnly(200);
            // At least every other first try; a retry's pick moves round-robin on too.
            assertThat(bad.requests()).isBetween(5, 10);

            assertThat(statuses(proxy, 10, "POST", new byte[] {1})).as("POST is not retried").containsOnly(200, 503)
                    .contains(503);
            assertThat(statuses(proxy, 10, "POST", new byte[] {1}, "Idempotency-Key", "k-1"))
                    .as("POST with Idempotency-Key is").containsOnly(200);
        }
    }

    @Test
    void aStatusNotListedIsNotRetried() throws Exception {
        try (StatusBackend bad = new StatusBackend("bad", 502); StatusBackend good = new StatusBackend("good", 200);
                ConfiguredProxy proxy = proxy("{\"attempts\": 1, \"on\": [\"503\"]}", "", bad, good)) {
            assertThat(statuses(proxy, 4, "GET", null)).containsExactly(502, 200, 502, 200);
        }
    }

    @Test
    void a503WithRetryAfterGoesToTheClient() throws Exception {
        try (StatusBackend busy = new StatusBackend("busy", 503).retryAfter("7"); StatusBackend good = new StatusBackend("good", 200);
                ConfiguredProxy proxy = proxy("{\"attempts\": 1, \"on\": [\"503\"]}", "", busy, good)) {
            HttpResponse<String> first = send(proxy, "GET", null);
            assertThat(first.statusCode()).isEqualTo(503);
            assertThat(first.headers().firstValue("retry-after")).hasValue("7");
            assertThat(first.body()).contains("\"backend\":\"busy\"");
        }
    }

    @Test
    void aBodyPastTheReplayBufferIsNotRetried() throws Exception {
        try (StatusBackend bad = new StatusBackend("bad", 503); StatusBackend good = new StatusBackend("good", 200);
                ConfiguredProxy proxy = proxy("{\"attempts\": 1, \"on\": [\"503\"]}", ", \"limits\": {\"requestBufferBytes\": 1024}",
                        bad, good)) {
            byte[] small = new byte[512];
            byte[] large = new byte[256 * 1024];
            assertThat(statuses(proxy, 4, "PUT", small)).as("held whole in the buffer").containsOnly(200);
            assertThat(statuses(proxy, 4, "PUT", large)).as("streamed past it").containsExactly(503, 200, 503, 200);
        }
    }

    @Test
    void moreAttemptsTryMoreBackends() throws Exception {
        try (StatusBackend bad1 = new StatusBackend("bad1", 503); StatusBackend bad2 = new StatusBackend("bad2", 504);
                StatusBackend good = new StatusBackend("good", 200)) {
            try (ConfiguredProxy one = proxy("{\"attempts\": 1, \"on\": [\"503\", \"504\"]}", "", bad1, bad2, good)) {
                assertThat(statuses(one, 6, "GET", null)).as("one retry is not always enough").anyMatch(s -> s != 200);
            }
            try (ConfiguredProxy two = proxy("{\"attempts\": 2, \"on\": [\"503\", \"504\"]}", "", bad1, bad2, good)) {
                assertThat(statuses(two, 6, "GET", null)).containsOnly(200);
            }
        }
    }

    @Test
    void aTryThatTakesLongerThanPerTryTimeoutIsRetriedElsewhere() throws Exception {
        try (StatusBackend slow = new StatusBackend("slow", 200).delayMs(3000); StatusBackend fast = new StatusBackend("fast", 200);
                ConfiguredProxy proxy = proxy("{\"attempts\": 1, \"on\": [\"timeout\"], \"perTryTimeoutMs\": 200}", "",
                        slow, fast)) {
            long start = System.nanoTime();
            HttpResponse<String> first = send(proxy, "GET", null);
            assertThat(first.statusCode()).isEqualTo(200);
            assertThat(first.body()).contains("\"backend\":\"fast\"");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(2500));

            HttpResponse<String> post = send(proxy, "POST", new byte[] {1});
            if (post.body().contains("fast")) {
                post = send(proxy, "POST", new byte[] {1}); // round-robin: the next goes to the slow one
            }
            assertThat(post.statusCode()).as("a POST is not sent twice").isEqualTo(504);
        }
    }

    @Test
    void theRetryBudgetStopsARetryStorm() throws Exception {
        try (StatusBackend bad = new StatusBackend("bad", 503); StatusBackend good = new StatusBackend("good", 200).delayMs(500)) {
            Map<Integer, Integer> tight;
            try (ConfiguredProxy proxy = proxy("{\"attempts\": 1, \"on\": [\"503\"], \"budgetPercent\": 0}", "", bad, good)) {
                tight = burst(proxy, 20);
            }
            Map<Integer, Integer> roomy;
            try (ConfiguredProxy proxy = proxy("{\"attempts\": 1, \"on\": [\"503\"], \"budgetPercent\": 100}", "", bad, good)) {
                roomy = burst(proxy, 20);
            }
            // Budget 0%: only the three retries always allowed are in flight at once.
            assertThat(tight.getOrDefault(503, 0)).as("%s", tight).isGreaterThanOrEqualTo(4);
            assertThat(roomy).as("%s", roomy).containsOnlyKeys(200);
        }
    }

    /** {@code n} GETs at once; the count of each status. */
    private static Map<Integer, Integer> burst(ConfiguredProxy proxy, int n) throws Exception {
        Map<Integer, Integer> counts = new ConcurrentHashMap<>();
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            all.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/burst"))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString())
                    .thenAccept(r -> counts.merge(r.statusCode(), 1, Integer::sum)));
        }
        CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).get(30, TimeUnit.SECONDS);
        return counts;
    }
}
