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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An upstream's own limits (Envoy's circuit breakers): requests in flight ({@code maxRequests})
 * and its backends' connections and waiting requests ({@code pool}); past them a fast 503 with
 * {@code Retry-After}, while other upstreams are untouched.
 */
class CircuitLimitsTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    /** {@code n} GETs of {@code path} at once. */
    private static List<HttpResponse<String>> burst(ConfiguredProxy proxy, String path, int n) throws Exception {
        List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            all.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()));
        }
        List<HttpResponse<String>> responses = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : all) {
            responses.add(f.get(20, TimeUnit.SECONDS));
        }
        return responses;
    }

    @Test
    void requestsOverMaxRequestsGetAFast503WhileAnotherUpstreamServes() throws Exception {
        try (StatusBackend slow = new StatusBackend("slow", 200).delayMs(1000); StatusBackend other = new StatusBackend("other", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"upstreams\": {\"small\": {\"backends\": [" + slow.json() + "], \"maxRequests\": 2},"
                        + "  \"big\": {\"backends\": [" + other.json() + "]}},"
                        + "\"routes\": [{\"match\": {\"pathPrefix\": \"/small\"}, \"upstream\": \"small\"},"
                        + "  {\"upstream\": \"big\"}]")) {
            CompletableFuture<List<HttpResponse<String>>> smalls = CompletableFuture.supplyAsync(() -> {
                try {
                    return burst(proxy, "/small", 6);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            List<HttpResponse<String>> responses = smalls.get(20, TimeUnit.SECONDS);
            List<HttpResponse<String>> refused = responses.stream().filter(r -> r.statusCode() == 503).toList();
            assertThat(responses.stream().filter(r -> r.statusCode() == 200)).hasSizeGreaterThanOrEqualTo(2);
            assertThat(refused).hasSizeGreaterThanOrEqualTo(3);
            for (HttpResponse<String> r : refused) {
                assertThat(r.body()).isEqualTo("upstream at its limit of requests in flight\n");
                assertThat(r.headers().firstValue("retry-after")).hasValue("1");
            }
            assertThat(burst(proxy, "/big", 4)).allMatch(r -> r.statusCode() == 200);
        }
    }

    @Test
    void anUpstreamsOwnPoolLimitsItsBackendsConnections() throws Exception {
        try (StatusBackend slow = new StatusBackend("slow", 200).delayMs(1000);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"server\": {\"ioThreads\": 1},"
                        + "\"upstreams\": {\"app\": {\"backends\": [" + slow.json() + "],"
                        + "  \"pool\": {\"maxConnectionsPerBackend\": 1, \"maxPendingAcquires\": 0}}}")) {
            List<HttpResponse<String>> responses = burst(proxy, "/x", 4);
            assertThat(responses.stream().filter(r -> r.statusCode() == 200)).hasSize(1);
            assertThat(responses.stream().filter(r -> r.statusCode() == 503))
                    .hasSize(3)
                    .allMatch(r -> r.body().equals("backend connection pool exhausted\n"))
                    .allMatch(r -> r.headers().firstValue("retry-after").orElse("").equals("1"));
        }
    }
}
