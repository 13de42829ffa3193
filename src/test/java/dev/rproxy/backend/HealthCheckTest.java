package dev.rproxy.backend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The proxy's own {@code /_health} and how backend health steers traffic. Each nested class runs
 * its own proxy and backends, so a backend switched off or closed in one cannot affect another.
 */
class HealthCheckTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Two healthy backends; only the proxy's health endpoint is looked at. */
    @Nested
    class LocalHealthEndpoint {
        @RegisterExtension
        static final ProxyExtension proxy = ProxyExtension.withBackends(2);

        @Test
        void getDescribesEveryBackendAsJson() throws Exception {
            HttpResponse<String> r = proxy.get("/_health");

            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
            JsonNode health = JSON.readTree(r.body());
            // The contract's fields first; more may follow.
            assertThat(fieldNames(health)).startsWith("status", "backends");
            assertThat(health.get("status").asText()).isEqualTo("healthy");
            JsonNode backends = health.get("backends");
            assertThat(backends.isArray()).isTrue();
            assertThat(backends).hasSize(2);
            for (int i = 0; i < 2; i++) {
                JsonNode b = backends.get(i);
                TestBackend expected = proxy.backend(i);
                assertThat(fieldNames(b)).startsWith("id", "url", "healthy", "activeConnections");
                assertThat(b.get("upstream").asText()).isEqualTo("default");
                assertThat(b.get("state").asText()).isEqualTo("healthy");
                assertThat(b.get("id").asText()).isEqualTo(expected.id());
                assertThat(b.get("url").asText()).isEqualTo(expected.url());
                assertThat(b.get("healthy").isBoolean()).isTrue();
                assertThat(b.get("healthy").booleanValue()).isTrue();
                assertThat(b.get("activeConnections").isIntegralNumber()).isTrue();
                assertThat(b.get("activeConnections").intValue()).isZero();
            }
            JsonNode group = health.get("upstreams").get("default");
            assertThat(group.get("status").asText()).isEqualTo("healthy");
            assertThat(group.get("available").intValue()).isEqualTo(2);
            assertThat(group.get("panic").booleanValue()).isFalse();
        }

        @Test
        void headAnswersWithTheHeadOfGetAndNoBody() throws Exception {
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.send("GET /_health HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response get = raw.read();

                raw.send("HEAD /_health HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response head = raw.read(true);
                assertThat(head.status()).isEqualTo(200);
                assertThat(head.header("content-type")).isEqualTo("application/json");
                assertThat(head.header("content-length")).isEqualTo(String.valueOf(get.body().length));

                // No body bytes followed the HEAD answer: the next response starts right after it.
                raw.send("GET /_health HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response next = raw.read();
                assertThat(next.statusLine()).isEqualTo("HTTP/1.1 200 OK");
                assertThat(JSON.readTree(next.body()).get("status").asText()).isEqualTo("healthy");
            }
        }
    }

    /** Active probes every 100 ms; two failures take a backend out, one success brings it back. */
    @Nested
    class ActiveChecks {
        @RegisterExtension
        static final ProxyExtension proxy = ProxyExtension.withBackends(2).config(
                "\"healthCheck\":{\"intervalMs\":100,\"timeoutMs\":500,\"unhealthyThreshold\":2,\"healthyThreshold\":1}");

        @BeforeEach
        @AfterEach
        void allBackendsHealthy() {
            proxy.backends().forEach(b -> b.setHealthy(true));
            await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(20))
                    .until(() -> settled(proxy, List.of(true, true)));
        }

        @Test
        void failingBackendIsSkippedUntilItRecovers() throws Exception {
            proxy.backend(1).setHealthy(false);
            // Two probes 100 ms apart; the bound leaves room for a loaded machine.
            await().atMost(Duration.ofMillis(1500)).pollInterval(Duration.ofMillis(20))
                    .until(() -> settled(proxy, List.of(true, false)));

            HttpResponse<String> health = proxy.get("/_health");
            assertThat(health.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(health.body()).get("status").asText()).isEqualTo("healthy");
            assertThat(backendsOf(proxy, 20)).containsOnlyKeys("backend1").containsEntry("backend1", 20);

            proxy.backend(1).setHealthy(true);
            await().atMost(Duration.ofMillis(1500)).pollInterval(Duration.ofMillis(20))
                    .until(() -> settled(proxy, List.of(true, true)));
            assertThat(backendsOf(proxy, 20)).containsEntry("backend1", 10).containsEntry("backend2", 10);
        }

        @Test
        void noHealthyBackendMeans503AtOnceAndAnUnhealthyProxy() throws Exception {
            proxy.backends().forEach(b -> b.setHealthy(false));
            await().atMost(Duration.ofMillis(1500)).pollInterval(Duration.ofMillis(20))
                    .until(() -> settled(proxy, List.of(false, false)));

            HttpResponse<String> health = proxy.get("/_health");
            assertThat(health.statusCode()).isEqualTo(503);
            assertThat(JSON.readTree(health.body()).get("status").asText()).isEqualTo("unhealthy");

            long before = proxy.backend(0).requestCount() + proxy.backend(1).requestCount();
            long start = System.nanoTime();
            HttpResponse<String> r = proxy.get("/anything");
            long elapsedMs = (System.nanoTime() - start) / 1_000_000;
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.headers().firstValue("content-type")).hasValueSatisfying(t -> assertThat(t).startsWith("text/plain"));
            assertThat(r.body().strip()).isEqualTo("no healthy backend");
            assertThat(elapsedMs).isLessThan(2000);

            // A large upload is refused from its head alone: the answer comes while not one body
            // byte has been sent, whether or not the client waits for 100 Continue.
            for (String expect : new String[] {"", "Expect: 100-continue\r\n"}) {
                try (RawHttp raw = new RawHttp(proxy.port())) {
                    raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Type: application/octet-stream\r\n"
                            + "Content-Length: 1073741824\r\n" + expect + "\r\n");
                    RawHttp.Response refused = raw.read();
                    assertThat(refused.status()).isEqualTo(503);
                    assertThat(refused.bodyText().strip()).isEqualTo("no healthy backend");
                    // The unread body cannot be skipped, so the connection ends with the answer.
                    assertThat(refused.header("connection")).isEqualToIgnoringCase("close");
                    assertThat(raw.isClosedByPeer(5000)).isTrue();
                }
            }
            assertThat(proxy.backend(0).requestCount() + proxy.backend(1).requestCount()).isEqualTo(before);
        }

    }

    /**
     * Active probes are so rare that after the first one only real traffic can change a backend's
     * state: a refused connection counts as a failed probe.
     */
    @Nested
    class PassiveChecks {
        @RegisterExtension
        static final ProxyExtension proxy = ProxyExtension.withBackends(2).config(
                "\"healthCheck\":{\"intervalMs\":600000,\"timeoutMs\":5000,\"unhealthyThreshold\":2,\"healthyThreshold\":1}");

        @Test
        void backendThatGoesAwayIsMarkedDownByTraffic() throws Exception {
            assertThat(backendsOf(proxy, 4)).containsEntry("backend1", 2).containsEntry("backend2", 2);
            proxy.backend(1).close();

            // Requests that land on the closed backend fail to connect and are sent again to the
            // other one, so every client gets 200; after two such failures in a row (the unhealthy
            // threshold) the backend is out of rotation, long before the next active probe.
            for (int i = 0; i < 10 && healthOf(proxy).get(1); i++) {
                HttpResponse<String> r = proxy.get("/while-going-down");
                assertThat(r.statusCode()).isEqualTo(200);
                assertThat(JSON.readTree(r.body()).get("backend").asText()).isEqualTo("backend1");
            }
            assertThat(healthOf(proxy)).containsExactly(true, false);

            HttpResponse<String> health = proxy.get("/_health");
            assertThat(health.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(health.body()).get("status").asText()).isEqualTo("healthy");
            assertThat(backendsOf(proxy, 10)).containsOnlyKeys("backend1");
        }
    }

    // ---------------------------------------------------------------- helpers

    /** Sends {@code requests} GETs one after another; counts which backend answered each. */
    private static Map<String, Integer> backendsOf(ProxyExtension p, int requests) throws Exception {
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < requests; i++) {
            HttpResponse<String> r = p.get("/which");
            assertThat(r.statusCode()).isEqualTo(200);
            counts.merge(JSON.readTree(r.body()).get("backend").asText(), 1, Integer::sum);
        }
        return counts;
    }

    /**
     * Whether the proxy's /_health shows {@code flags} and the proxy routes accordingly. A probe sets
     * a backend's flag first and rebuilds the set of healthy backends that requests (and /_health's
     * "status") are served from a moment later, on the probe's thread; /_health read from another
     * event loop in between shows a change that requests do not follow yet.
     */
    private static boolean settled(ProxyExtension p, List<Boolean> flags) {
        List<Backend> routed = List.of(p.server().backends().routableSnapshot());
        List<Boolean> routing = new ArrayList<>();
        p.server().backends().all().forEach(b -> routing.add(routed.contains(b)));
        return routing.equals(flags) && healthOf(p).equals(flags);
    }

    /** The healthy flag of every backend, in configuration order, from the proxy's /_health. */
    private static List<Boolean> healthOf(ProxyExtension p) {
        try {
            List<Boolean> flags = new ArrayList<>();
            JSON.readTree(p.get("/_health").body()).get("backends").forEach(b -> flags.add(b.get("healthy").booleanValue()));
            return flags;
        } catch (Exception e) {
            throw new IllegalStateException("proxy /_health failed", e);
        }
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            names.add(it.next());
        }
        return names;
    }
}
