package dev.rproxy.routing;

import static dev.rproxy.support.ProxyAnswers.backendOf;
import static dev.rproxy.support.ProxyAnswers.backendReport;
import static dev.rproxy.support.ProxyAnswers.discoveryOf;
import static dev.rproxy.support.ProxyAnswers.get;
import static dev.rproxy.support.ProxyAnswers.ids;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rproxy.backend.Backend;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.TestDnsServer;
import dev.rproxy.testbackend.TestBackend;
import io.netty.handler.codec.dns.DnsRecordType;
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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DNS service discovery against a DNS server on loopback: backends join as the name gains
 * addresses (slow start, probes), drain as it loses them (a request in flight finishes, new ones
 * go elsewhere), SRV records give ports and weights, and a server that stops answering or a name
 * that goes away changes the set only as documented.
 */
class DnsDiscoveryTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;
    private TestDnsServer dns;
    private final List<TestBackend> backends = new ArrayList<>();

    @BeforeEach
    void startDns() throws InterruptedException {
        dns = new TestDnsServer(0);
    }

    @AfterEach
    void stop() {
        dns.close();
        backends.forEach(TestBackend::close);
    }

    private TestBackend backend(String id, String host, int port) throws Exception {
        TestBackend b = TestBackend.start(id, host, port);
        backends.add(b);
        return b;
    }

    /** Upstream "api" discovered from {@code dnsName}, every request routed to it. */
    private String members(String dnsName, String upstreamExtra) {
        return "\"server\": {\"ioThreads\": 2}, \"admin\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                + " \"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"" + dnsName + "\", \"refreshMs\": 100,"
                + " \"nameservers\": [\"" + dns.address() + "\"]}, \"balancer\": \"least_request\","
                + " \"healthCheck\": {\"intervalMs\": 500}" + upstreamExtra + "}},"
                + " \"routes\": [{\"upstream\": \"api\"}]";
    }

    /** What /admin/upstreams says of api's discovery: its state. */
    private static String discoveryState(ConfiguredProxy proxy) throws Exception {
        return discoveryOf(proxy, "api").get("state").asText();
    }

    @Test
    void aBackendJoinsWithSlowStartAndOneThatVanishesDrainsItsRequestInFlight() throws Exception {
        TestBackend a = backend("a", "127.0.0.1", 0);
        TestBackend b = backend("b", "127.0.0.2", a.port());
        String idA = "api@127.0.0.1:" + a.port();
        String idB = "api@127.0.0.2:" + a.port();
        dns.a("api.test", "127.0.0.1");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members("api.test:" + a.port(), ", \"slowStartMs\": 60000"))) {
            // Known before the listener opened: the first answer is awaited at start.
            assertThat(ids(proxy)).containsExactly(idA);
            assertThat(backendOf(get(proxy.port(), "/one"))).isEqualTo("a");

            dns.a("api.test", "127.0.0.1", "127.0.0.2");
            await().atMost(WAIT).until(() -> ids(proxy).contains(idB));
            JsonNode joined = backendReport(proxy, idB);
            assertThat(joined.get("state").asText()).isEqualTo("slow_start");
            assertThat(joined.get("upstream").asText()).isEqualTo("api");
            assertThat(backendReport(proxy, idA).get("state").asText()).as("there from the start").isEqualTo("healthy");
            await().atMost(WAIT).until(() -> backendOf(get(proxy.port(), "/spread")).equals("b"));

            // A slow request on a, then a leaves the answer.
            // Slow requests until one is on a (b, warming up, takes about one in ten).
            Backend onA = proxy.server().upstreams().backend(idA);
            Backend onB = proxy.server().upstreams().backend(idB);
            CompletableFuture<HttpResponse<String>> onASlow = null;
            for (int i = 0; i < 20 && onASlow == null; i++) {
                int onBBefore = onB.activeConnections();
                CompletableFuture<HttpResponse<String>> slow = HTTP.sendAsync(HttpRequest.newBuilder(URI.create(
                        "http://127.0.0.1:" + proxy.port() + "/delay?ms=3000")).timeout(WAIT).build(),
                        HttpResponse.BodyHandlers.ofString());
                await().atMost(WAIT).until(() -> onA.activeConnections() > 0 || onB.activeConnections() > onBBefore);
                if (onA.activeConnections() > 0) {
                    onASlow = slow;
                }
            }
            assertThat(onASlow).as("a slow request in flight on a").isNotNull();

            dns.a("api.test", "127.0.0.2");
            await().atMost(WAIT).until(() -> !ids(proxy).contains(idA));
            assertThat(onA.activeConnections()).as("still in flight while a drains").isPositive();
            for (int i = 0; i < 5; i++) {
                assertThat(backendOf(get(proxy.port(), "/after"))).isEqualTo("b");
            }
            assertThat(backendReport(proxy, idA)).as("gone from /_health/backends").isNull();
            HttpResponse<String> finished = onASlow.get(10, TimeUnit.SECONDS);
            assertThat(finished.statusCode()).isEqualTo(200);
            assertThat(backendOf(finished)).isEqualTo("a");
            await().atMost(WAIT).until(() -> onA.activeConnections() == 0);

            String admin = get(proxy.server().adminPort(), "/admin/upstreams").body();
            assertThat(admin).contains(idB).doesNotContain(idA);
            String metrics = get(proxy.server().adminPort(), "/metrics").body();
            assertThat(metrics).contains("backend=\"" + idB + "\"");
        }
    }

    @Test
    void srvRecordsOfTheLowestPriorityGivePortsAndWeights() throws Exception {
        TestBackend c = backend("c", "127.0.0.1", 0);
        TestBackend d = backend("d", "127.0.0.1", 0);
        dns.a("node.test", "127.0.0.1")
                .srv("_http._tcp.api.test", new TestDnsServer.Srv(10, 1, c.port(), "node.test"),
                        new TestDnsServer.Srv(10, 3, d.port(), "node.test"),
                        new TestDnsServer.Srv(20, 1, 1, "node.test")); // a fallback: left out
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members("_http._tcp.api.test", ""))) {
            String idC = "api@127.0.0.1:" + c.port();
            String idD = "api@127.0.0.1:" + d.port();
            await().atMost(WAIT).until(() -> ids(proxy).size() == 2);
            assertThat(ids(proxy)).containsExactlyInAnyOrder(idC, idD);
            assertThat(backendReport(proxy, idC).get("weight").asInt()).isEqualTo(1);
            assertThat(backendReport(proxy, idD).get("weight").asInt()).isEqualTo(3);
            await().atMost(WAIT).until(() -> backendOf(get(proxy.port(), "/x")).equals("c"));
            await().atMost(WAIT).until(() -> backendOf(get(proxy.port(), "/x")).equals("d"));

            dns.srv("_http._tcp.api.test", new TestDnsServer.Srv(10, 1, d.port(), "node.test"));
            await().atMost(WAIT).until(() -> ids(proxy).equals(List.of(idD)));
            assertThat(backendReport(proxy, idD).get("weight").asInt()).as("a new weight: a new backend").isEqualTo(1);
        }
    }

    @Test
    void aServerThatStopsAnsweringKeepsTheLastSet() throws Exception {
        TestBackend a = backend("a", "127.0.0.1", 0);
        TestBackend b = backend("b", "127.0.0.2", a.port());
        dns.a("api.test", "127.0.0.1", "127.0.0.2");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members("api.test:" + a.port(), ""))) {
            await().atMost(WAIT).until(() -> ids(proxy).size() == 2);
            assertThat(discoveryState(proxy)).isEqualTo("answering");
            dns.stop();
            // Many refreshes' worth (100 ms each) while the questions go unanswered: the set stays.
            await().during(Duration.ofMillis(1000)).atMost(Duration.ofSeconds(5)).until(() -> ids(proxy).size() == 2);
            // Until they time out (the resolver's timeout, 5 s unless resolv.conf says otherwise): still.
            await().atMost(Duration.ofSeconds(30)).until(() -> discoveryState(proxy).equals("failing"));
            assertThat(ids(proxy)).hasSize(2);
            assertThat(backendOf(get(proxy.port(), "/still"))).isIn("a", "b");
        }
    }

    @Test
    void aNameThatGoesAwayEmptiesTheSetOnlyAfterThreeAnswersInARow() throws Exception {
        TestBackend a = backend("a", "127.0.0.1", 0);
        dns.a("api.test", "127.0.0.1");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members("api.test:" + a.port(), ""))) {
            assertThat(ids(proxy)).hasSize(1);
            int asked = dns.questions("api.test", DnsRecordType.A);
            dns.remove("api.test");
            await().atMost(WAIT).until(() -> ids(proxy).isEmpty());
            assertThat(dns.questions("api.test", DnsRecordType.A) - asked).as("NXDOMAIN answers before it emptied")
                    .isGreaterThanOrEqualTo(3);
            assertThat(get(proxy.port(), "/none").statusCode()).isEqualTo(503);
            assertThat(discoveryState(proxy)).isEqualTo("empty");

            dns.a("api.test", "127.0.0.1");
            await().atMost(WAIT).until(() -> ids(proxy).size() == 1);
            assertThat(backendOf(get(proxy.port(), "/back"))).isEqualTo("a");
        }
    }

    @Test
    void theNextResolutionWaitsForTheTtl() throws Exception {
        TestBackend a = backend("a", "127.0.0.1", 0);
        dns.ttl(1).a("api.test", "127.0.0.1");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members("api.test:" + a.port(), ""))) {
            int first = dns.questions("api.test", DnsRecordType.A);
            long start = System.nanoTime();
            await().atMost(WAIT).until(() -> dns.questions("api.test", DnsRecordType.A) > first);
            // refreshMs is 100, the TTL 1 s: the next question came no sooner than the TTL ran out.
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThan(Duration.ofMillis(700));
        }
    }

    @Test
    void aReloadWithTheSameDiscoveryKeepsTheDiscoveredBackendsAndAnotherHasItsAnswerBeforeTheSwap() throws Exception {
        TestBackend a = backend("a", "127.0.0.1", 0);
        TestBackend b = backend("b", "127.0.0.2", a.port());
        dns.a("api.test", "127.0.0.1").a("other.test", "127.0.0.2");
        String members = members("api.test:" + a.port(), "");
        try (ConfiguredProxy proxy = new ConfiguredProxy(dir, members)) {
            String id = "api@127.0.0.1:" + a.port();
            Backend before = proxy.server().upstreams().backend(id);
            assertThat(before).isNotNull();
            Files.writeString(proxy.file(), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0}, "
                    + members.replace("least_request", "round_robin") + "}");
            assertThat(proxy.server().reloadAsync().get(10, TimeUnit.SECONDS)).contains("1 backends kept, 0 added, 0 removed");
            assertThat(proxy.server().upstreams().backend(id)).isSameAs(before);
            await().atMost(WAIT).until(() -> backendOf(get(proxy.port(), "/reloaded")).equals("a"));

            Files.writeString(proxy.file(), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0}, "
                    + members("other.test:" + a.port(), "") + "}");
            assertThat(proxy.server().reloadAsync().get(10, TimeUnit.SECONDS)).contains("0 backends kept, 1 added, 1 removed");
            // No wait: the new name's answer was in before the swap.
            assertThat(ids(proxy)).containsExactly("api@127.0.0.2:" + a.port());
            assertThat(backendOf(get(proxy.port(), "/other"))).isEqualTo("b");
        }
    }
}
