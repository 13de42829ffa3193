package dev.rproxy.fleet;

import static dev.rproxy.support.ProxyAnswers.backendOf;
import static dev.rproxy.support.ProxyAnswers.backendReport;
import static dev.rproxy.support.ProxyAnswers.discoveryOf;
import static dev.rproxy.support.ProxyAnswers.get;
import static dev.rproxy.support.ProxyAnswers.ids;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.RedisServer;
import dev.rproxy.testbackend.TestBackend;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Discovery from a registry in a real redis-server: test backends heartbeat themselves into the
 * sorted set {@code services:jobs}; one that registers joins (slow start), one that deregisters
 * drains, one whose heartbeat stops leaves when its registration expires, and a Redis that stops
 * answering leaves the set as it was.
 */
class RedisRegistryTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final String KEY = "services:jobs";

    @TempDir
    Path dir;
    private RedisServer redis;
    private final List<TestBackend> backends = new ArrayList<>();

    @BeforeEach
    void startRedis() throws Exception {
        Assumptions.assumeTrue(RedisServer.available(), "redis-server is not installed (apt-get install redis-server)");
        redis = new RedisServer();
    }

    @AfterEach
    void stop() throws Exception {
        backends.forEach(TestBackend::close);
        if (redis != null) {
            redis.close();
        }
    }

    private TestBackend backend(String id) throws Exception {
        TestBackend b = TestBackend.start(id, "127.0.0.1", 0);
        backends.add(b);
        return b;
    }

    private static String id(TestBackend b) {
        return "jobs@127.0.0.1:" + b.port();
    }

    private ConfiguredProxy proxy(String upstreamExtra) throws Exception {
        return new ConfiguredProxy(dir, members(KEY, upstreamExtra));
    }

    /** Upstream "jobs" discovered from the registry {@code key}, every request routed to it. */
    private String members(String key, String upstreamExtra) {
        return "\"server\": {\"ioThreads\": 2}, \"admin\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                + " \"redis\": {\"url\": \"" + redis.url() + "\", \"timeoutMs\": 500},"
                + " \"upstreams\": {\"jobs\": {\"discovery\": {\"redis\": \"" + key + "\", \"refreshMs\": 100},"
                + " \"balancer\": \"least_request\", \"healthCheck\": {\"intervalMs\": 500}" + upstreamExtra + "}},"
                + " \"routes\": [{\"upstream\": \"jobs\"}]";
    }

    @Test
    void aRegisteredBackendJoinsWithSlowStartAndOneThatDeregistersDrainsItsRequestInFlight() throws Exception {
        TestBackend a = backend("a");
        TestBackend b = backend("b");
        TestBackend.Registration aRegistered = a.register(redis.url(), KEY);
        try (ConfiguredProxy proxy = proxy(", \"slowStartMs\": 60000")) {
            // Registered before the listener opened: the first answer is awaited at start.
            assertThat(ids(proxy)).containsExactly(id(a));
            assertThat(backendOf(get(proxy.port(), "/one"))).isEqualTo("a");
            JsonNode state = discoveryOf(proxy, "jobs");
            assertThat(state.get("redis").asText()).isEqualTo(KEY);
            assertThat(state.get("state").asText()).isEqualTo("answering");
            assertThat(state.get("detail").asText()).isEqualTo("1 endpoint");

            // A slow request on a (the only one), then b joins and a deregisters.
            CompletableFuture<HttpResponse<String>> slow = HTTP.sendAsync(HttpRequest.newBuilder(URI.create(
                    "http://127.0.0.1:" + proxy.port() + "/delay?ms=3000")).timeout(WAIT).build(),
                    HttpResponse.BodyHandlers.ofString());
            var onA = proxy.server().upstreams().backend(id(a));
            await().atMost(WAIT).until(() -> onA.activeConnections() > 0);

            b.register(redis.url(), KEY);
            await().atMost(WAIT).until(() -> ids(proxy).contains(id(b)));
            JsonNode joined = backendReport(proxy, id(b));
            assertThat(joined.get("state").asText()).isEqualTo("slow_start");
            assertThat(joined.get("upstream").asText()).isEqualTo("jobs");
            assertThat(backendReport(proxy, id(a)).get("state").asText()).as("there before").isEqualTo("healthy");

            aRegistered.close(); // ZREM: a leaves the registry, and keeps serving what it has
            await().atMost(WAIT).until(() -> !ids(proxy).contains(id(a)));
            assertThat(onA.activeConnections()).as("still in flight while a drains").isPositive();
            for (int i = 0; i < 5; i++) {
                assertThat(backendOf(get(proxy.port(), "/after"))).isEqualTo("b");
            }
            assertThat(backendReport(proxy, id(a))).as("gone from /_health/backends").isNull();
            HttpResponse<String> finished = slow.get(10, TimeUnit.SECONDS);
            assertThat(backendOf(finished)).isEqualTo("a");
            await().atMost(WAIT).until(() -> onA.activeConnections() == 0);
        }
    }

    @Test
    void aBackendWhoseHeartbeatStopsLeavesWhenItsRegistrationExpires() throws Exception {
        TestBackend a = backend("a");
        TestBackend b = backend("b");
        a.register(redis.url(), KEY);
        TestBackend.Registration bRegistered = b.register(redis.url(), KEY);
        try (ConfiguredProxy proxy = proxy("")) {
            await().atMost(WAIT).until(() -> ids(proxy).size() == 2);
            bRegistered.stopHeartbeat(); // as a crash: no ZREM
            long stopped = System.nanoTime();
            // Its last beat was at most a heartbeat ago, so it stays for about TTL - heartbeat at least.
            await().during(Duration.ofMillis(TestBackend.Registration.TTL_MS - TestBackend.Registration.HEARTBEAT_MS - 500))
                    .atMost(WAIT).until(() -> ids(proxy).contains(id(b)));
            await().atMost(WAIT).until(() -> !ids(proxy).contains(id(b)));
            long goneAfterMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopped);
            assertThat(goneAfterMs).as("gone within its TTL and a refresh or two")
                    .isLessThan(TestBackend.Registration.TTL_MS + 1500);
            assertThat(ids(proxy)).containsExactly(id(a));
            for (int i = 0; i < 5; i++) {
                assertThat(backendOf(get(proxy.port(), "/after"))).isEqualTo("a");
            }
            assertThat(redis.exists(KEY)).as("a is still registered").isTrue();
        }
    }

    @Test
    void aRedisThatStopsAnsweringKeepsTheLastSetAndOneBackAgainIsReadAgain() throws Exception {
        TestBackend a = backend("a");
        TestBackend b = backend("b");
        a.register(redis.url(), KEY);
        b.register(redis.url(), KEY);
        try (ConfiguredProxy proxy = proxy("")) {
            await().atMost(WAIT).until(() -> ids(proxy).size() == 2);
            redis.kill();
            await().atMost(WAIT).until(() -> discoveryOf(proxy, "jobs").get("state").asText().equals("failing"));
            // Longer than a registration lives: what the proxy found stays, since nothing says otherwise.
            await().during(Duration.ofMillis(TestBackend.Registration.TTL_MS + 1000)).atMost(WAIT)
                    .until(() -> ids(proxy).size() == 2);
            assertThat(backendOf(get(proxy.port(), "/still"))).isIn("a", "b");

            // Back, empty: the backends' next beats register them again.
            redis.restart();
            await().atMost(WAIT).until(() -> discoveryOf(proxy, "jobs").get("state").asText().equals("answering"));
            await().atMost(WAIT).until(() -> discoveryOf(proxy, "jobs").get("detail").asText().equals("2 endpoints"));
            assertThat(ids(proxy)).containsExactlyInAnyOrder(id(a), id(b));
        }
    }

    @Test
    void anEmptyRegistryIsNoBackendsAndAMemberThatIsNotHostAndPortIsLeftOut() throws Exception {
        TestBackend a = backend("a");
        try (TestBackend.Registration bogus = TestBackend.Registration.start(redis.url(), KEY, "no-port");
                ConfiguredProxy proxy = proxy("")) {
            await().atMost(WAIT).until(() -> discoveryOf(proxy, "jobs").get("state").asText().equals("empty"));
            assertThat(ids(proxy)).isEmpty();
            assertThat(get(proxy.port(), "/none").statusCode()).as("no backend registered").isEqualTo(503);

            a.register(redis.url(), KEY);
            await().atMost(WAIT).until(() -> ids(proxy).equals(List.of(id(a))));
            assertThat(discoveryOf(proxy, "jobs").get("detail").asText()).isEqualTo("1 endpoint");
            await().atMost(WAIT).until(() -> get(proxy.port(), "/one").statusCode() == 200);
            assertThat(backendOf(get(proxy.port(), "/one"))).isEqualTo("a");
            assertThat(bogus.member()).isEqualTo("no-port");
        }
    }

    @Test
    void aReloadWithTheSameRegistryKeepsItsBackendsAndAnotherHasItsAnswerBeforeTheSwap() throws Exception {
        TestBackend a = backend("a");
        TestBackend b = backend("b");
        a.register(redis.url(), KEY);
        b.register(redis.url(), "services:other");
        String members = members(KEY, "");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members)) {
            dev.rproxy.backend.Backend before = proxy.server().upstreams().backend(id(a));
            assertThat(before).isNotNull();
            Files.writeString(proxy.file(), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0}, "
                    + members.replace("least_request", "round_robin") + "}");
            assertThat(proxy.server().reloadAsync().get(10, TimeUnit.SECONDS)).contains("1 backends kept, 0 added, 0 removed");
            assertThat(proxy.server().upstreams().backend(id(a))).isSameAs(before);
            await().atMost(WAIT).until(() -> backendOf(get(proxy.port(), "/reloaded")).equals("a"));

            Files.writeString(proxy.file(), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0}, "
                    + members("services:other", "") + "}");
            assertThat(proxy.server().reloadAsync().get(10, TimeUnit.SECONDS)).contains("0 backends kept, 1 added, 1 removed");
            // No wait: the new registry's answer was in before the swap.
            assertThat(ids(proxy)).containsExactly(id(b));
            assertThat(discoveryOf(proxy, "jobs").get("redis").asText()).isEqualTo("services:other");
            assertThat(backendOf(get(proxy.port(), "/other"))).isEqualTo("b");
        }
    }
}
