package dev.rproxy.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.assertj.core.api.AbstractStringAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ConfigLoaderTest {

    private static final String ONE_BACKEND = "\"backends\": [{\"url\": \"http://localhost:3001\"}]";

    @TempDir
    Path dir;

    // ---- defaults -------------------------------------------------------------------------

    @Test
    void minimalConfigGetsAllDefaults() {
        ProxyConfig config = ConfigLoader.parse("{" + ONE_BACKEND + "}");

        assertThat(config.backends()).containsExactly(new BackendConfig("localhost:3001", "http://localhost:3001"));
        assertThat(config.listen()).containsExactly(ListenConfig.DEFAULT);
        assertThat(config.healthCheck()).isEqualTo(HealthCheckConfig.DEFAULT);
        assertThat(config.timeouts()).isEqualTo(TimeoutsConfig.DEFAULT);
        assertThat(config.pool()).isEqualTo(PoolConfig.DEFAULT);
        assertThat(config.limits()).isEqualTo(LimitsConfig.DEFAULT);
        assertThat(config.shutdown()).isEqualTo(ShutdownConfig.DEFAULT);
        assertThat(config.server()).isEqualTo(ServerConfig.DEFAULT);
        assertThat(config.accessLog()).isEqualTo(AccessLogConfig.DEFAULT);
        assertThat(config.trustedProxies()).as("no peer is believed about its client").isEmpty();
        assertThat(config.listen().get(0).proxyProtocol()).isFalse();
    }

    @Test
    void defaultValuesAreTheDocumentedOnes() {
        assertThat(ListenConfig.DEFAULT).isEqualTo(new ListenConfig("0.0.0.0", 8080));
        assertThat(HealthCheckConfig.DEFAULT).isEqualTo(new HealthCheckConfig(true, "/_health", 5000, 2000, 2, 1));
        assertThat(TimeoutsConfig.DEFAULT).isEqualTo(new TimeoutsConfig(2000, 30000, 60000, 10000, 3_600_000));
        assertThat(PoolConfig.DEFAULT).isEqualTo(new PoolConfig(1024, 4096, 5000, 60000));
        assertThat(LimitsConfig.DEFAULT).isEqualTo(new LimitsConfig(8192, 16384, 100, 0, 0, 500, 65536, 0, 0));
        assertThat(ShutdownConfig.DEFAULT).isEqualTo(new ShutdownConfig(10000));
        assertThat(ServerConfig.DEFAULT).isEqualTo(new ServerConfig(0, "auto", 64));
        assertThat(AccessLogConfig.DEFAULT).isEqualTo(new AccessLogConfig(true));
    }

    @Test
    void emptySectionsGetDefaults() {
        ProxyConfig config = ConfigLoader.parse("{" + ONE_BACKEND + ", \"listen\": {}, \"healthCheck\": {},"
                + " \"timeouts\": {}, \"pool\": {}, \"limits\": {}, \"shutdown\": {}, \"server\": {}, \"accessLog\": {}}");

        assertThat(config).isEqualTo(ConfigLoader.parse("{" + ONE_BACKEND + "}"));
    }

    @Test
    void missingKeysInASectionKeepTheirDefaults() {
        ProxyConfig config = ConfigLoader.parse("{" + ONE_BACKEND + ", \"healthCheck\": {\"intervalMs\": 2000},"
                + " \"listen\": {\"port\": 0}}");

        assertThat(config.healthCheck()).isEqualTo(new HealthCheckConfig(true, "/_health", 2000, 2000, 2, 1));
        assertThat(config.listen()).containsExactly(new ListenConfig("0.0.0.0", 0));
    }

    @Test
    void nullSectionsInTheConstructorGetDefaults() {
        List<BackendConfig> backends = new ArrayList<>(List.of(new BackendConfig("b", "http://localhost:3001")));
        ProxyConfig config = new ProxyConfig(null, backends, null, null, null, null, null, null, null, null);
        backends.clear();

        assertThat(config).isEqualTo(ConfigLoader.parse("{\"backends\": [{\"id\": \"b\", \"url\": \"http://localhost:3001\"}]}"));
        assertThat(config.backends()).hasSize(1);
        assertThatThrownBy(() -> config.backends().clear()).isInstanceOf(UnsupportedOperationException.class);
    }

    // ---- full configs ---------------------------------------------------------------------

    private static final ProxyConfig FULL = new ProxyConfig(
            List.of(new ListenConfig("127.0.0.1", 9090)),
            List.of(new BackendConfig("a", "http://10.0.0.1:8001"), new BackendConfig("b", "http://[::1]:8002")),
            new HealthCheckConfig(false, "/ready?full=1", 1500, 500, 3, 2, true),
            new TimeoutsConfig(100, 200, 300, 400, 500),
            new PoolConfig(8, 0, 250, 1000),
            new LimitsConfig(1024, 2048, 50, 1_000_000, 500, 700, 4096, 50_000_000, 20),
            new ShutdownConfig(0),
            new ServerConfig(4, "nio", 200),
            new AccessLogConfig(false),
            new SecurityConfig(true, List.of("GET", "HEAD")));

    @Test
    void fullConfigSetsEveryKey() {
        ProxyConfig config = ConfigLoader.parse("""
                {
                  "listen":      { "host": "127.0.0.1", "port": 9090 },
                  "backends":    [ { "id": "a", "url": "http://10.0.0.1:8001" },
                                   { "id": "b", "url": "http://[::1]:8002/" } ],
                  "healthCheck": { "enabled": false, "path": "/ready?full=1", "intervalMs": 1500, "timeoutMs": 500,
                                   "unhealthyThreshold": 3, "healthyThreshold": 2, "spread": true },
                  "timeouts":    { "connectMs": 100, "responseMs": 200, "idleMs": 300, "requestHeadMs": 400, "tunnelMs": 500 },
                  "pool":        { "maxConnectionsPerBackend": 8, "maxPendingAcquires": 0,
                                   "acquireTimeoutMs": 250, "idleTimeoutMs": 1000 },
                  "limits":      { "maxRequestLineBytes": 1024, "maxHeaderBytes": 2048, "maxHeaderCount": 50,
                                   "maxBodyBytes": 1000000, "maxConnections": 500, "minBodyRate": 700,
                                   "requestBufferBytes": 4096, "maxBufferBytes": 50000000, "maxConnectionsPerClient": 20 },
                  "shutdown":    { "graceMs": 0 },
                  "server":      { "ioThreads": 4, "transport": "nio", "descriptorReserve": 200 },
                  "accessLog":   { "enabled": false },
                  "security":    { "rejectDotSegments": true, "allowedMethods": ["GET", "head"] }
                }
                """);

        assertThat(config).isEqualTo(FULL);
    }

    @Test
    void upstreamsTakeTheirDefaultsAndTheTopLevelHealthCheckKeyByKey() throws IOException {
        ProxyConfig config = ConfigLoader.parse("{\"healthCheck\": {\"intervalMs\": 700, \"path\": \"/ping\"},"
                + "\"upstreams\": {"
                + "  \"api\": {\"backends\": [{\"id\": \"a1\", \"url\": \"http://a:1\", \"weight\": 3}],"
                + "    \"balancer\": \"least_request\", \"healthCheck\": {\"timeoutMs\": 300},"
                + "    \"outlierDetection\": {\"consecutiveFailures\": 7}, \"retries\": {\"attempts\": 2, \"on\": [\"503\"]},"
                + "    \"slowStartMs\": 30000, \"pool\": {\"maxPendingAcquires\": 8}, \"maxRequests\": 100},"
                + "  \"web\": {\"backends\": [{\"url\": \"http://w:1\"}], \"balancer\": \"consistent_hash\"}},"
                + "\"routes\": [{\"match\": {\"host\": \"API.Example.test\", \"pathPrefix\": \"/v1\", \"methods\": [\"GET\"],"
                + "  \"headers\": {\"X-Canary\": \"1\"}}, \"upstream\": \"api\", \"stripPrefix\": \"/v1\"},"
                + "  {\"upstream\": \"web\"}]}");

        assertThat(config.backends()).isEmpty();
        assertThat(config.allUpstreams()).containsOnlyKeys("api", "web");
        UpstreamConfig api = config.allUpstreams().get("api");
        assertThat(api.healthCheck()).isEqualTo(new HealthCheckConfig(true, "/ping", 700, 300, 2, 1));
        assertThat(api.outlierDetection()).isEqualTo(new OutlierConfig(7, 30_000, 50, 300_000));
        assertThat(api.retries()).isEqualTo(new RetryConfig(2, List.of("503"), 20, 0));
        assertThat(api.slowStartMs()).isEqualTo(30_000);
        assertThat(api.panicThresholdPercent()).isEqualTo(50);
        assertThat(api.pool()).isEqualTo(new UpstreamPoolConfig(1024, 8, 5000));
        assertThat(api.maxRequests()).isEqualTo(100);
        UpstreamConfig web = config.allUpstreams().get("web");
        assertThat(web.hashKey()).isEqualTo("client_ip");
        assertThat(web.outlierDetection()).as("off unless configured").isNull();
        assertThat(web.retries()).isEqualTo(RetryConfig.DEFAULT);
        assertThat(web.healthCheck()).isEqualTo(new HealthCheckConfig(true, "/ping", 700, 2000, 2, 1));
        RouteConfig first = config.routeList().get(0);
        assertThat(first.match().host()).isEqualTo("api.example.test");
        assertThat(first.match().headers()).containsEntry("X-Canary", "1");
        assertThat(config.routeList().get(1).match()).isEqualTo(MatchConfig.ANY);
        String json = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL).writeValueAsString(config);
        assertThat(ConfigLoader.parse(json)).as("written as JSON, read back equal").isEqualTo(config);
    }

    @Test
    void anUpstreamDiscoversItsBackendsByDns() throws IOException {
        ProxyConfig config = ConfigLoader.parse("{\"upstreams\": {"
                + "  \"api\": {\"discovery\": {\"dns\": \"API.internal:9000\"}, \"balancer\": \"least_request\"},"
                + "  \"srv\": {\"discovery\": {\"dns\": \"_http._tcp.api.internal\", \"refreshMs\": 100,"
                + "    \"nameservers\": [\"127.0.0.1:5353\", \"[::1]\", \"10.0.0.2\"]}}},"
                + "\"routes\": [{\"upstream\": \"api\"}]}");

        UpstreamConfig api = config.allUpstreams().get("api");
        assertThat(api.backends()).isEmpty();
        assertThat(api.discovery()).isEqualTo(new DiscoveryConfig("api.internal:9000", 5000, List.of()));
        assertThat(api.discovery().srv()).isFalse();
        assertThat(api.discovery().name()).isEqualTo("api.internal");
        assertThat(api.discovery().port()).isEqualTo(9000);
        DiscoveryConfig srv = config.allUpstreams().get("srv").discovery();
        assertThat(srv.srv()).isTrue();
        assertThat(srv.name()).isEqualTo("_http._tcp.api.internal");
        assertThat(srv.refreshMs()).isEqualTo(100);
        assertThat(srv.nameserverAddresses()).extracting(Object::toString)
                .containsExactly("/127.0.0.1:5353", "/[0:0:0:0:0:0:0:1]:53", "/10.0.0.2:53");
        String json = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL).writeValueAsString(config);
        assertThat(ConfigLoader.parse(json)).as("written as JSON, read back equal").isEqualTo(config);
    }

    @Test
    void anUpstreamDiscoversItsBackendsFromARegistryInRedis() throws IOException {
        ProxyConfig config = ConfigLoader.parse("{\"redis\": {\"url\": \"redis://127.0.0.1:6379\"}, \"upstreams\": {"
                + "  \"jobs\": {\"discovery\": {\"redis\": \"services:jobs\"}},"
                + "  \"fast\": {\"discovery\": {\"redis\": \"services:fast\", \"refreshMs\": 200}}},"
                + "\"routes\": [{\"upstream\": \"jobs\"}]}");
        DiscoveryConfig jobs = config.allUpstreams().get("jobs").discovery();
        assertThat(jobs).isEqualTo(DiscoveryConfig.redis("services:jobs", 1000));
        assertThat(jobs.fromRedis()).isTrue();
        assertThat(jobs.dns()).isNull();
        assertThat(config.allUpstreams().get("fast").discovery().refreshMs()).isEqualTo(200);
        String json = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL).writeValueAsString(config);
        assertThat(ConfigLoader.parse(json)).as("written as JSON, read back equal").isEqualTo(config);
    }

    @Test
    void withoutRoutesTheOnlyUpstreamTakesEverything() throws IOException {
        ProxyConfig config = ConfigLoader.parse("{" + ONE_BACKEND + "}");
        assertThat(config.routes()).isNull();
        assertThat(config.routeList()).containsExactly(RouteConfig.catchAll("default"));
        assertThat(config.allUpstreams().get("default").backends()).isEqualTo(config.backends());
    }

    @Test
    void aFleetSharesItsGlobalLimitsThroughRedis() throws IOException {
        ProxyConfig config = ConfigLoader.parse("{" + ONE_BACKEND + ", \"redis\": {\"url\": \"redis://10.0.0.5:6380/2\"},"
                + "\"rateLimits\": {\"g\": {\"key\": \"header:X-Api-Key\", \"requestsPerSecond\": 100, \"scope\": \"global\"},"
                + "  \"l\": {\"key\": \"client_ip\", \"requestsPerSecond\": 5}}}");
        assertThat(config.redis()).isEqualTo(new RedisConfig("redis://10.0.0.5:6380/2", 50, "local"));
        assertThat(config.rateLimits().get("g").global()).isTrue();
        assertThat(config.rateLimits().get("g").burst()).isEqualTo(100);
        assertThat(config.rateLimits().get("l").scope()).isEqualTo("local");
        assertThat(ConfigLoader.parse("{" + ONE_BACKEND + "}").redis()).as("optional").isNull();
        String json = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL).writeValueAsString(config);
        assertThat(ConfigLoader.parse(json)).as("written as JSON, read back equal").isEqualTo(config);
    }

    @Test
    void recordsWrittenAsJsonReadBackEqual() throws IOException {
        // The public records' component names are the JSON keys, so a plain serialisation round-trips.
        String json = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL).writeValueAsString(FULL);

        assertThat(ConfigLoader.parse(json)).isEqualTo(FULL);
    }

    @Test
    void listenersAsAnArrayWithTlsPathsTakenFromTheConfigFilesDirectory() throws IOException {
        Path file = Files.writeString(dir.resolve("proxy.json"), "{" + ONE_BACKEND + ", \"listen\": ["
                + "{\"port\": 8080},"
                + "{\"host\": \"127.0.0.1\", \"port\": 8443, \"protocols\": [\"http/1.1\"], \"tls\": {\"certificates\": ["
                + "{\"certFile\": \"certs/site.pem\", \"keyFile\": \"certs/site.key\"},"
                + "{\"certFile\": \"/etc/other.pem\", \"keyFile\": \"../other.key\"}], \"minVersion\": \"TLSv1.3\"}}]}");

        ProxyConfig config = ConfigLoader.load(file);

        assertThat(config.listen()).containsExactly(
                new ListenConfig("0.0.0.0", 8080),
                new ListenConfig("127.0.0.1", 8443, List.of("http/1.1"), new TlsConfig(List.of(
                        new CertificateConfig(dir.resolve("certs/site.pem"), dir.resolve("certs/site.key")),
                        new CertificateConfig(Path.of("/etc/other.pem"), dir.getParent().resolve("other.key"))),
                        "TLSv1.3")));
        assertThat(config.listen().get(0).scheme()).isEqualTo("http");
        assertThat(config.listen().get(1).scheme()).isEqualTo("https");
        assertThat(config.listen().get(1).tls().versions()).containsExactly("TLSv1.3");
    }

    @Test
    void trustedProxiesAndProxyProtocolListeners() throws IOException {
        ProxyConfig config = ConfigLoader.parse("{" + ONE_BACKEND + ", \"trustedProxies\": [\"10.0.0.0/8\", \"127.0.0.1\","
                + " \"2001:db8::/32\"], \"listen\": [{\"port\": 8080}, {\"port\": 8081, \"proxyProtocol\": true}]}");

        assertThat(config.trustedProxies()).containsExactly("10.0.0.0/8", "127.0.0.1", "2001:db8::/32");
        assertThat(config.trustedBlocks()).extracting(Object::toString).containsExactly("10.0.0.0/8", "127.0.0.1",
                "2001:db8::/32");
        assertThat(config.listen()).extracting(ListenConfig::proxyProtocol).containsExactly(false, true);
        assertThat(config.listen().get(1)).isEqualTo(new ListenConfig("0.0.0.0", 8081, null, null, true, null));
        String json = new ObjectMapper().setSerializationInclusion(JsonInclude.Include.NON_NULL).writeValueAsString(config);
        assertThat(ConfigLoader.parse(json)).as("written as JSON, read back equal").isEqualTo(config);
    }

    @Test
    void h2IsForTlsListenersAndH2cForPlaintextOnes() {
        assertError("{" + ONE_BACKEND + ", \"listen\": {\"protocols\": [\"http/1.1\", \"h2\"]}}")
                .isEqualTo("listen.protocols: \"h2\" needs tls (HTTP/2 over plaintext is \"h2c\")");
        assertError("{" + ONE_BACKEND + ", \"listen\": {\"protocols\": [\"h2c\"], \"tls\": {\"certificates\": ["
                + "{\"certFile\": \"a.pem\", \"keyFile\": \"a.key\"}]}}}")
                .isEqualTo("listen.protocols: \"h2c\" is for plaintext listeners (over TLS it is \"h2\")");
        assertThat(ConfigLoader.parse("{" + ONE_BACKEND + ", \"listen\": {\"protocols\": [\"http/1.1\", \"h2c\"]}}")
                .listen().get(0).protocols()).containsExactly("http/1.1", "h2c");
    }

    @Test
    void backendProtocolsAreHttp11H2OverHttpsAndH2cOverHttp() {
        assertThat(ConfigLoader.parse("{\"backends\": [{\"url\": \"http://a:1\"}]}").backends().get(0).protocol())
                .isEqualTo("http/1.1");
        ProxyConfig config = ConfigLoader.parse("{\"backends\": [{\"url\": \"https://a:1\", \"protocol\": \"h2\"},"
                + " {\"url\": \"http://b:1\", \"protocol\": \"h2c\"}]}");
        assertThat(config.backends()).extracting(BackendConfig::protocol).containsExactly("h2", "h2c");
        assertThat(config.backends()).allMatch(BackendConfig::http2);
        assertError("{\"backends\": [{\"url\": \"http://a:1\", \"protocol\": \"h2\"}]}")
                .isEqualTo("backends[0].protocol: \"h2\" needs an https:// url (HTTP/2 over plaintext is \"h2c\")");
        assertError("{\"backends\": [{\"url\": \"https://a:1\", \"protocol\": \"h2c\"}]}")
                .isEqualTo("backends[0].protocol: \"h2c\" needs an http:// url (HTTP/2 over TLS is \"h2\")");
        assertError("{\"backends\": [{\"url\": \"http://a:1\", \"protocol\": \"h3\"}]}")
                .startsWith("backends[0].protocol: \"h3\" (expected: one of ");
    }

    @Test
    void sampleConfigParses() {
        ProxyConfig config = ConfigLoader.load(Path.of("config.json"));

        assertThat(config.listen()).containsExactly(new ListenConfig("0.0.0.0", 8080));
        assertThat(config.backends()).containsExactly(
                new BackendConfig("backend1", "http://localhost:3001"),
                new BackendConfig("backend2", "http://localhost:3002"));
        assertThat(config.healthCheck().intervalMs()).isEqualTo(2000);
        assertThat(config.allUpstreams()).containsOnlyKeys("default", "api");
        assertThat(config.routeList()).extracting(RouteConfig::upstream).containsExactly("api", "default");
    }

    @Test
    void byteOrderMarkIsSkipped() throws IOException {
        Path file = Files.writeString(dir.resolve("bom.json"), "\uFEFF{" + ONE_BACKEND + "}");

        assertThat(ConfigLoader.load(file).backends()).hasSize(1);
    }

    // ---- backend URLs ---------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            // url                      | host        | port | url()                     | default id
            "http://localhost:3001      | localhost   | 3001 | http://localhost:3001     | localhost:3001",
            "http://localhost:3001/     | localhost   | 3001 | http://localhost:3001     | localhost:3001",
            "http://example.com         | example.com | 80   | http://example.com        | example.com:80",
            "http://example.com/        | example.com | 80   | http://example.com        | example.com:80",
            "HTTP://Example.COM:8080    | example.com | 8080 | http://example.com:8080   | example.com:8080",
            "http://127.0.0.1:65535     | 127.0.0.1   | 65535| http://127.0.0.1:65535    | 127.0.0.1:65535",
            "http://[::1]:3001          | ::1         | 3001 | http://[::1]:3001         | [::1]:3001",
            "http://[::1]/              | ::1         | 80   | http://[::1]              | [::1]:80",
            "http://[fe80::A:1]:1       | fe80::a:1   | 1    | http://[fe80::a:1]:1      | [fe80::a:1]:1",
            "http://app_1:3001          | app_1       | 3001 | http://app_1:3001         | app_1:3001",
            "https://example.com        | example.com | 443  | https://example.com       | example.com:443",
            "HTTPS://Api.Test:8443/     | api.test    | 8443 | https://api.test:8443     | api.test:8443",
    })
    void acceptsBackendUrl(String url, String host, int port, String normalised, String id) {
        BackendConfig backend = ConfigLoader.parse("{\"backends\": [{\"url\": \"" + url + "\"}]}").backends().get(0);

        assertThat(backend.host()).isEqualTo(host);
        assertThat(backend.port()).isEqualTo(port);
        assertThat(backend.url()).isEqualTo(normalised);
        assertThat(backend.id()).isEqualTo(id);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "ftp://x                  | ''",
            "''                       | ''",
            "localhost:3001           | ''",
            "http://                  | ''",
            "http:///                 | ''",
            "http://x:                | ''",
            "http://x:abc             | ''",
            "http://x:+80             | ''",
            "http://x:123456          | ''",
            "http://:80               | ''",
            "http://a b:80            | ''",
            "http://::1:3001          | ''",
            "http://[::1              | ''",
            "http://[::1]x            | ''",
            "http://[example.com]:80  | ''",
            "http://x:0               | ' (port must be 1..65535)'",
            "http://x:65536           | ' (port must be 1..65535)'",
            "http://x:3001/api        | ' (no path, query or fragment allowed)'",
            "http://x:3001//          | ' (no path, query or fragment allowed)'",
            "http://x:3001?a=1        | ' (no path, query or fragment allowed)'",
            "http://x#top             | ' (no path, query or fragment allowed)'",
            "http://user@x:3001       | ' (no user info allowed)'",
    })
    void rejectsBackendUrl(String url, String reason) {
        assertError("{\"backends\": [{\"url\": \"" + url + "\"}]}")
                .isEqualTo("backends[0].url: expected http://host:port or https://host:port, got \"" + url + "\"" + reason);
    }

    // ---- errors ---------------------------------------------------------------------------

    static Stream<Arguments> errors() {
        String b = ONE_BACKEND + ", ";
        return Stream.of(new String[][] {
            // required backends
            {"{}", "backends: required (at least one backend, or upstreams)"},
            {"{\"backends\": []}", "backends: required (at least one backend)"},
            {"{\"backends\": [{\"id\": \"a\"}]}", "backends[0].url: required"},
            {"{\"backends\": [{\"id\": \"backend1\", \"url\": \"http://a:1\"}, {\"id\": \"backend1\", \"url\": \"http://b:1\"}]}",
                "backends[1].id: duplicate id \"backend1\""},
            {"{\"backends\": [{\"url\": \"http://a:1\"}, {\"url\": \"http://b:1\"}, {\"url\": \"http://A:1/\"}]}",
                "backends[2].id: duplicate id \"a:1\""},
            {"{\"backends\": [{\"id\": \"\", \"url\": \"http://a:1\"}]}",
                "backends[0].id: \"\" (expected: non-empty, no spaces or control characters)"},
            {"{\"backends\": [{\"id\": \"a\\nb\", \"url\": \"http://a:1\"}]}",
                "backends[0].id: \"a\\nb\" (expected: non-empty, no spaces or control characters)"},
            // upstreams and routes
            {"{\"upstreams\": {}}", "backends: required (at least one backend, or upstreams)"},
            {"{\"upstreams\": {\"api\": {}}}", "upstreams.api.backends: required (at least one backend)"},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"balancer\": \"leastconn\"}}}",
                "upstreams.api.balancer: \"leastconn\" (expected: one of \"round_robin\", \"least_request\", \"consistent_hash\", \"random\")"},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"hashKey\": \"path\"}}}",
                "upstreams.api.hashKey: only with \"balancer\": \"consistent_hash\""},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"balancer\": \"consistent_hash\", \"hashKey\": \"query:x\"}}}",
                "upstreams.api.hashKey: \"query:x\" (expected: client_ip, path, header:NAME or cookie:NAME)"},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"retries\": {\"on\": [\"500\"]}}}}",
                "upstreams.api.retries.on[0]: \"500\" (expected: one of \"connect-failure\", \"reset-before-response\", \"timeout\", \"502\", \"503\", \"504\")"},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"outlierDetection\": {\"maxEjectionPercent\": 101}}}}",
                "upstreams.api.outlierDetection.maxEjectionPercent: 101 (expected: 0..100)"},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"healthCheck\": {\"path\": \"x\"}}}}",
                "upstreams.api.healthCheck.path: \"x\" (expected: starting with \"/\")"},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"slowstartMs\": 1}}}",
                "upstreams.api.slowstartMs: unknown key (known: backends, balancer, hashKey, healthCheck, outlierDetection, retries, slowStartMs, panicThresholdPercent, pool, maxRequests, discovery)"},
            // discovery
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"discovery\": {\"dns\": \"api.internal:9000\"}}}}",
                "upstreams.api.discovery: not with backends (an upstream lists its backends or discovers them)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {}}}}",
                "upstreams.api.discovery.dns: required (or redis: the key of a registry in Redis)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"redis\": \"services:api\"}}}}",
                "upstreams.api.discovery.redis: needs a redis section (the registry is read through it)"},
            {"{\"redis\": {\"url\": \"redis://127.0.0.1\"}, \"upstreams\": {\"api\": {\"discovery\": {\"redis\": \"services:api\","
                    + " \"dns\": \"api.internal:80\"}}}}",
                "upstreams.api.discovery.redis: not with dns (an upstream discovers from one of them)"},
            {"{\"redis\": {\"url\": \"redis://127.0.0.1\"}, \"upstreams\": {\"api\": {\"discovery\": {\"redis\": \"\"}}}}",
                "upstreams.api.discovery.redis: \"\" (expected: the key of a sorted set, such as \"services:jobs\")"},
            {"{\"redis\": {\"url\": \"redis://127.0.0.1\"}, \"upstreams\": {\"api\": {\"discovery\": {\"redis\": \"services:api\","
                    + " \"nameservers\": [\"127.0.0.1\"]}}}}",
                "upstreams.api.discovery.nameservers: only with dns"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api.internal\"}}}}",
                "upstreams.api.discovery.dns: \"api.internal\" (expected: name:port for A/AAAA records, or an SRV name such as _http._tcp.api.internal)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api.internal:0\"}}}}",
                "upstreams.api.discovery.dns: \"api.internal:0\" (expected: name:port for A/AAAA records, or an SRV name such as _http._tcp.api.internal)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api internal:80\"}}}}",
                "upstreams.api.discovery.dns: \"api internal:80\" (expected: name:port for A/AAAA records, or an SRV name such as _http._tcp.api.internal)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"_http._tcp.api.internal:80\"}}}}",
                "upstreams.api.discovery.dns: \"_http._tcp.api.internal:80\" (an SRV name takes no port: its records give them)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api.internal:80\", \"refreshMs\": 50}}}}",
                "upstreams.api.discovery.refreshMs: 50 (expected: >= 100)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api.internal:80\", \"nameservers\": [\"dns.example\"]}}}}",
                "upstreams.api.discovery.nameservers[0]: \"dns.example\" (expected: an IP address with an optional port, such as 127.0.0.1:5353 or [::1]:53)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api.internal:80\", \"nameservers\": [\"127.0.0.1:99999\"]}}}}",
                "upstreams.api.discovery.nameservers[0]: \"127.0.0.1:99999\" (expected: an IP address with an optional port, such as 127.0.0.1:5353 or [::1]:53)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api.internal:80\", \"nameservers\": \"127.0.0.1\"}}}}",
                "upstreams.api.discovery.nameservers: expected an array, got \"127.0.0.1\""},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api.internal:80\", \"ttl\": 5}}}}",
                "upstreams.api.discovery.ttl: unknown key (known: dns, refreshMs, nameservers, redis)"},
            {"{\"upstreams\": {\"api\": {\"discovery\": {\"dns\": \"api.internal:80\"}},"
                    + " \"web\": {\"backends\": [{\"id\": \"api@10.0.0.1:80\", \"url\": \"http://a:1\"}]}}, \"routes\": [{\"upstream\": \"web\"}]}",
                "upstreams.web.backends[0].id: \"api@10.0.0.1:80\" (ids \"api@...\" are those of the backends upstream \"api\" discovers)"},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"pool\": {\"idleTimeoutMs\": 1}}}}",
                "upstreams.api.pool.idleTimeoutMs: unknown key (known: maxConnectionsPerBackend, maxPendingAcquires, acquireTimeoutMs)"},
            {"{\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}], \"maxRequests\": -1}}}",
                "upstreams.api.maxRequests: -1 (expected: >= 0)"},
            {"{" + b + "\"upstreams\": {\"default\": {\"backends\": [{\"url\": \"http://a:1\"}]}}}",
                "upstreams.default: the top-level backends are the upstream \"default\""},
            {"{" + b + "\"upstreams\": {\"api\": {\"backends\": [{\"url\": \"http://a:1\"}]}}}",
                "routes: required with more than one upstream (known: default, api)"},
            {"{\"upstreams\": {\"a\": {\"backends\": [{\"id\": \"x\", \"url\": \"http://a:1\"}]}, \"b\": {\"backends\": [{\"id\": \"x\", \"url\": \"http://b:1\"}]}},"
                + " \"routes\": [{\"upstream\": \"a\"}]}",
                "upstreams.b.backends[0].id: duplicate id \"x\" (a backend of upstream \"a\" already)"},
            {"{" + b + "\"routes\": [{\"upstream\": \"api\"}]}", "routes[0].upstream: \"api\" is not an upstream (known: default)"},
            {"{" + b + "\"routes\": []}", "routes: empty (expected: at least one route)"},
            {"{" + b + "\"listen\": {\"port\": 8080}, \"admin\": {\"port\": 8080}}",
                "admin.port: 8080 is a proxied port (listen); the admin API needs a port of its own"},
            {"{" + b + "\"admin\": {\"prot\": 1}}", "admin.prot: unknown key (known: host, port)"},
            {"{" + b + "\"routes\": [{\"match\": {\"path\": \"/\"}, \"upstream\": \"default\"}]}",
                "routes[0].match.path: unknown key (known: host, pathPrefix, methods, headers)"},
            {"{" + b + "\"routes\": [{\"match\": {\"pathPrefix\": \"v1\"}, \"upstream\": \"default\"}]}",
                "routes[0].match.pathPrefix: \"v1\" (expected: a path starting with \"/\", visible ASCII, no query)"},
            {"{" + b + "\"routes\": [{\"match\": {\"host\": \"api.test:80\"}, \"upstream\": \"default\"}]}",
                "routes[0].match.host: \"api.test:80\" (expected: a host name such as api.example.test or *.example.test, no port)"},
            {"{" + b + "\"routes\": [{\"upstream\": \"default\", \"stripPrefix\": \"/v1/\"}]}",
                "routes[0].stripPrefix: \"/v1/\" (expected: a path such as \"/v1\": starting with \"/\", not ending with one)"},
            {"{" + b + "\"routes\": [{\"match\": {\"pathPrefix\": \"/\"}}]}", "routes[0].upstream: required"},
            {"{" + b + "\"listen\": {\"allowedHosts\": [\"app.test:80\"]}}",
                "listen.allowedHosts[0]: \"app.test:80\" (expected: a host name such as api.example.test or *.example.test, no port)"},
            {"{" + b + "\"routes\": [{\"upstream\": \"default\", \"rateLimit\": [\"per-ip\"]}]}",
                "routes[0].rateLimit[0]: \"per-ip\" is not in rateLimits (known: )"},
            {"{" + b + "\"routes\": [{\"upstream\": \"default\", \"allow\": [\"10.0.0.1/8\"]}]}",
                "routes[0].allow[0]: \"10.0.0.1/8\" (10.0.0.1/8 has host bits set (the block is 10.0.0.0/8))"},
            {"{" + b + "\"routes\": [{\"upstream\": \"default\", \"deny\": [\"example.com\"]}]}",
                "routes[0].deny[0]: \"example.com\" (not an IP address: example.com)"},
            {"{" + b + "\"routes\": [{\"upstream\": \"default\", \"responseHeaders\": {\"set\": {\"Bad Name\": \"x\"}}}]}",
                "routes[0].responseHeaders.set: \"Bad Name\" (expected: a header field name)"},
            {"{" + b + "\"routes\": [{\"upstream\": \"default\", \"limits\": {\"maxBodyBytes\": -1}}]}",
                "routes[0].limits.maxBodyBytes: -1 (expected: >= 0)"},
            {"{" + b + "\"rateLimits\": {\"x\": {\"key\": \"ip\", \"requestsPerSecond\": 1}}}",
                "rateLimits.x.key: \"ip\" (expected: one of \"client_ip\", \"route\", \"header:NAME\", \"jwt:CLAIM\")"},
            {"{" + b + "\"rateLimits\": {\"x\": {\"key\": \"route\"}}}",
                "rateLimits.x.requestsPerSecond: 0 and maxConcurrent: 0 (expected: a rate, a concurrency or both)"},
            {"{" + b + "\"rateLimits\": {\"x\": {\"key\": \"header:X Key\", \"requestsPerSecond\": 1}}}",
                "rateLimits.x.key: \"header:X Key\" (expected: one of \"client_ip\", \"route\", \"header:NAME\", \"jwt:CLAIM\")"},
            // fleets: global limits and redis
            {"{" + b + "\"rateLimits\": {\"x\": {\"key\": \"route\", \"requestsPerSecond\": 1, \"scope\": \"global\"}}}",
                "rateLimits.x.scope: \"global\" needs a redis section (the fleet shares the limit through it)"},
            {"{" + b + "\"rateLimits\": {\"x\": {\"key\": \"route\", \"requestsPerSecond\": 1, \"scope\": \"fleet\"}}}",
                "rateLimits.x.scope: \"fleet\" (expected: one of \"local\", \"global\")"},
            {"{" + b + "\"redis\": {\"url\": \"redis://r\"}, \"rateLimits\": {\"x\": {\"key\": \"route\", \"maxConcurrent\": 1, \"scope\": \"global\"}}}",
                "rateLimits.x.scope: \"global\" without requestsPerSecond (a fleet shares rates; in-flight counts stay per proxy)"},
            {"{" + b + "\"rateLimits\": {\"x\": {\"key\": \"route\", \"requestsPerSecond\": 1, \"scop\": \"global\"}}}",
                "rateLimits.x.scop: unknown key (known: key, requestsPerSecond, burst, maxConcurrent, maxKeys, scope)"},
            {"{" + b + "\"redis\": {}}", "redis.url: required"},
            {"{" + b + "\"redis\": {\"url\": \"http://r:6379\"}}",
                "redis.url: \"http://r:6379\" (expected: redis://host:port or rediss://host:port, optionally with user:password@ and /db)"},
            {"{" + b + "\"redis\": {\"url\": \"redis://r:6379?db=1\"}}",
                "redis.url: \"redis://r:6379?db=1\" (expected: redis://host:port or rediss://host:port, optionally with user:password@ and /db)"},
            {"{" + b + "\"redis\": {\"url\": \"redis://r\", \"timeoutMs\": 0}}", "redis.timeoutMs: 0 (expected: 1..60000)"},
            {"{" + b + "\"redis\": {\"url\": \"redis://r\", \"failMode\": \"retry\"}}",
                "redis.failMode: \"retry\" (expected: one of \"open\", \"closed\", \"local\")"},
            {"{" + b + "\"redis\": {\"url\": \"redis://r\", \"timeout\": 50}}",
                "redis.timeout: unknown key (known: url, timeoutMs, failMode)"},
            {"{" + b + "\"redis\": \"redis://r\"}", "redis: expected an object, got \"redis://r\""},
            // unknown keys
            {"{" + b + "\"listne\": {}}",
                "listne: unknown key (known: listen, backends, healthCheck, timeouts, pool, limits, shutdown, server, accessLog, security, upstreams, routes, admin, watchConfig, metrics, rateLimits, securityHeaders, trustedProxies, redis)"},
            {"{" + b + "\"healthCheck\": {\"intervalMS\": 1000}}",
                "healthCheck.intervalMS: unknown key (known: enabled, path, intervalMs, timeoutMs, unhealthyThreshold, healthyThreshold, spread)"},
            {"{\"backends\": [{\"url\": \"http://a:1\", \"weigth\": 2}]}",
                "backends[0].weigth: unknown key (known: id, url, tls, protocol, weight)"},
            {"{\"backends\": [{\"url\": \"http://a:1\", \"weight\": 0}]}", "backends[0].weight: 0 (expected: 1..1000)"},
            {"{\"backends\": [{\"url\": \"http://a:1\", \"weight\": 1001}]}", "backends[0].weight: 1001 (expected: 1..1000)"},
            {"{" + b + "\"Listen\": {}}",
                "Listen: unknown key (known: listen, backends, healthCheck, timeouts, pool, limits, shutdown, server, accessLog, security, upstreams, routes, admin, watchConfig, metrics, rateLimits, securityHeaders, trustedProxies, redis)"},
            // wrong types
            {"{" + b + "\"listen\": {\"port\": \"80\"}}", "listen.port: expected an integer, got \"80\""},
            {"{" + b + "\"listen\": {\"port\": 80.5}}", "listen.port: expected an integer, got 80.5"},
            {"{" + b + "\"listen\": {\"port\": 80.0}}", "listen.port: expected an integer, got 80.0"},
            {"{" + b + "\"listen\": {\"port\": true}}", "listen.port: expected an integer, got true"},
            {"{" + b + "\"listen\": {\"port\": \"\"}}", "listen.port: expected an integer, got \"\""},
            {"{" + b + "\"listen\": {\"host\": 0}}", "listen.host: expected a string, got 0"},
            {"{" + b + "\"listen\": 8080}", "listen: expected an object or an array, got 8080"},
            {"{" + b + "\"timeouts\": {\"idleMs\": \"60s\"}}", "timeouts.idleMs: expected an integer, got \"60s\""},
            {"{" + b + "\"accessLog\": {\"enabled\": \"true\"}}", "accessLog.enabled: expected a boolean, got \"true\""},
            {"{" + b + "\"accessLog\": {\"enabled\": 1}}", "accessLog.enabled: expected a boolean, got 1"},
            {"{" + b + "\"accessLog\": false}", "accessLog: expected an object, got false"},
            {"{" + b + "\"accessLog\": {\"format\": \"clf\"}}",
                "accessLog.format: \"clf\" (expected: one of \"default\", \"combined\", \"json\")"},
            {"{" + b + "\"accessLog\": {\"file\": \"\"}}", "accessLog.file: \"\" (expected: a file path)"},
            {"{" + b + "\"shutdown\": 5}", "shutdown: expected an object, got 5"},
            {"{" + b + "\"server\": {\"transport\": [\"nio\"]}}", "server.transport: expected a string, got an array"},
            {"{\"backends\": {\"url\": \"http://a:1\"}}", "backends: expected an array, got an object"},
            {"{\"backends\": \"http://a:1\"}", "backends: expected an array, got \"http://a:1\""},
            {"{\"backends\": [\"http://a:1\"]}", "backends[0]: expected an object, got \"http://a:1\""},
            {"{\"backends\": [{\"url\": 3001}]}", "backends[0].url: expected a string, got 3001"},
            {"{" + b + "\"listen\": {\"port\": 1e2}}", "listen.port: expected an integer, got 1e2"},
            {"{" + b + "\"security\": {\"allowedMethods\": \"GET\"}}",
                "security.allowedMethods: expected an array, got \"GET\""},
            {"{" + b + "\"security\": {\"allowedMethods\": [\"GET\", 7]}}",
                "security.allowedMethods[1]: expected a string, got 7"},
            // explicit nulls are not defaults
            {"{\"backends\": null}", "backends: expected an array, got null"},
            {"{\"backends\": [null]}", "backends[0]: expected an object, got null"},
            {"{\"backends\": [{\"id\": null, \"url\": \"http://a:1\"}]}", "backends[0].id: expected a string, got null"},
            {"{" + b + "\"listen\": null}", "listen: expected an object or an array, got null"},
            {"{" + b + "\"listen\": {\"port\": null}}", "listen.port: expected an integer, got null"},
            {"{" + b + "\"security\": {\"allowedMethods\": [\"GET\", null]}}",
                "security.allowedMethods[1]: expected a string, got null"},
            // ranges
            {"{" + b + "\"pool\": {\"maxConnectionsPerBackend\": 0}}", "pool.maxConnectionsPerBackend: 0 (expected: >= 1)"},
            {"{" + b + "\"pool\": {\"maxPendingAcquires\": -1}}", "pool.maxPendingAcquires: -1 (expected: >= 0)"},
            {"{" + b + "\"pool\": {\"acquireTimeoutMs\": 0}}", "pool.acquireTimeoutMs: 0 (expected: >= 1)"},
            {"{" + b + "\"pool\": {\"idleTimeoutMs\": 0}}", "pool.idleTimeoutMs: 0 (expected: >= 1)"},
            {"{" + b + "\"listen\": {\"port\": 70000}}", "listen.port: 70000 (expected: 0..65535)"},
            {"{" + b + "\"listen\": {\"port\": -1}}", "listen.port: -1 (expected: 0..65535)"},
            {"{" + b + "\"listen\": {\"port\": 99999999999}}", "listen.port: 99999999999 (expected: -2147483648..2147483647)"},
            {"{" + b + "\"listen\": {\"host\": \"\"}}", "listen.host: \"\" (expected: non-empty, no spaces or control characters)"},
            {"{" + b + "\"healthCheck\": {\"path\": \"_health\"}}", "healthCheck.path: \"_health\" (expected: starting with \"/\")"},
            {"{" + b + "\"healthCheck\": {\"path\": \"/a b\"}}",
                "healthCheck.path: \"/a b\" (expected: visible ASCII characters only, no spaces)"},
            {"{" + b + "\"healthCheck\": {\"intervalMs\": 0}}", "healthCheck.intervalMs: 0 (expected: >= 1)"},
            {"{" + b + "\"healthCheck\": {\"timeoutMs\": 0}}", "healthCheck.timeoutMs: 0 (expected: >= 1)"},
            {"{" + b + "\"healthCheck\": {\"unhealthyThreshold\": 0}}", "healthCheck.unhealthyThreshold: 0 (expected: >= 1)"},
            {"{" + b + "\"healthCheck\": {\"healthyThreshold\": 0}}", "healthCheck.healthyThreshold: 0 (expected: >= 1)"},
            {"{" + b + "\"timeouts\": {\"connectMs\": 0}}", "timeouts.connectMs: 0 (expected: >= 1)"},
            {"{" + b + "\"timeouts\": {\"responseMs\": -5}}", "timeouts.responseMs: -5 (expected: >= 1)"},
            {"{" + b + "\"timeouts\": {\"idleMs\": 99999999999999999999}}",
                "timeouts.idleMs: 99999999999999999999 (expected: -9223372036854775808..9223372036854775807)"},
            {"{" + b + "\"limits\": {\"maxRequestLineBytes\": 255}}", "limits.maxRequestLineBytes: 255 (expected: >= 256)"},
            {"{" + b + "\"limits\": {\"maxHeaderBytes\": 0}}", "limits.maxHeaderBytes: 0 (expected: >= 256)"},
            {"{" + b + "\"limits\": {\"maxHeaderCount\": 0}}", "limits.maxHeaderCount: 0 (expected: >= 1)"},
            {"{" + b + "\"limits\": {\"maxBodyBytes\": -1}}", "limits.maxBodyBytes: -1 (expected: >= 0)"},
            {"{" + b + "\"limits\": {\"maxConnections\": -1}}", "limits.maxConnections: -1 (expected: >= 0)"},
            {"{" + b + "\"limits\": {\"minBodyRate\": -1}}", "limits.minBodyRate: -1 (expected: >= 0)"},
            {"{" + b + "\"timeouts\": {\"tunnelMs\": 0}}", "timeouts.tunnelMs: 0 (expected: >= 1)"},
            {"{" + b + "\"shutdown\": {\"graceMs\": -1}}", "shutdown.graceMs: -1 (expected: >= 0)"},
            {"{" + b + "\"server\": {\"ioThreads\": -1}}", "server.ioThreads: -1 (expected: >= 0)"},
            {"{" + b + "\"server\": {\"descriptorReserve\": -1}}", "server.descriptorReserve: -1 (expected: 0..1048576)"},
            {"{" + b + "\"server\": {\"transport\": \"kqueue\"}}",
                "server.transport: \"kqueue\" (expected: one of \"auto\", \"epoll\", \"io_uring\", \"nio\")"},
            // listeners
            {"{" + b + "\"listen\": \"0.0.0.0:80\"}", "listen: expected an object or an array, got \"0.0.0.0:80\""},
            {"{" + b + "\"listen\": []}", "listen: empty (expected: at least one listener)"},
            {"{" + b + "\"listen\": [{\"port\": 1}, 8080]}", "listen[1]: expected an object, got 8080"},
            {"{" + b + "\"listen\": [{\"port\": 1}, {\"port\": 70000}]}", "listen[1].port: 70000 (expected: 0..65535)"},
            {"{" + b + "\"listen\": [{\"port\": 8080}, {\"port\": 8080}]}",
                "listen[1]: 0.0.0.0:8080 is listen[0]'s address already"},
            {"{" + b + "\"listen\": {\"protocols\": []}}",
                "listen.protocols: empty (expected: at least one of \"http/1.1\", \"h2\", \"h2c\")"},
            {"{" + b + "\"listen\": {\"protocols\": [\"http/1.0\"]}}",
                "listen.protocols[0]: \"http/1.0\" (expected: one of \"http/1.1\", \"h2\", \"h2c\")"},
            {"{" + b + "\"listen\": [{\"port\": 1, \"protocols\": [\"http/1.1\", \"http/1.1\"]}]}",
                "listen[0].protocols[1]: \"http/1.1\" named twice"},
            {"{" + b + "\"listen\": {\"tls\": {}}}", "listen.tls.certificates: required (at least one certificate)"},
            {"{" + b + "\"listen\": {\"tls\": {\"certificates\": [{\"certFile\": \"a.pem\"}]}}}",
                "listen.tls.certificates[0].keyFile: required"},
            {"{" + b + "\"listen\": {\"tls\": {\"certificates\": [{\"certFile\": \"a.pem\", \"keyFile\": \"a.key\"}],"
                    + " \"minVersion\": \"TLSv1.1\"}}}",
                "listen.tls.minVersion: \"TLSv1.1\" (expected: one of \"TLSv1.2\", \"TLSv1.3\")"},
            {"{" + b + "\"listen\": {\"tls\": {\"certificates\": [{\"certFile\": \"a.pem\", \"keyFile\": \"a.key\","
                    + " \"password\": \"x\"}]}}}",
                "listen.tls.certificates[0].password: unknown key (known: certFile, keyFile, ocspFile)"},
            {"{" + b + "\"listen\": {\"tls\": {\"certificates\": [{\"certFile\": \"\", \"keyFile\": \"a.key\"}]}}}",
                "listen.tls.certificates[0].certFile: \"\" (expected: a file path)"},
            // client identity
            {"{" + b + "\"trustedProxies\": [\"10.0.0.0/8\", \"proxy.example\"]}",
                "trustedProxies[1]: not an IP address: proxy.example"},
            {"{" + b + "\"trustedProxies\": [\"10.0.0.1/8\"]}",
                "trustedProxies[0]: 10.0.0.1/8 has host bits set (the block is 10.0.0.0/8)"},
            {"{" + b + "\"trustedProxies\": [\"10.0.0.0/33\"]}",
                "trustedProxies[0]: prefix /33 longer than the address (32 bits)"},
            {"{" + b + "\"trustedProxies\": [8]}", "trustedProxies[0]: expected a string, got 8"},
            {"{" + b + "\"trustedProxies\": \"10.0.0.0/8\"}", "trustedProxies: expected an array, got \"10.0.0.0/8\""},
            {"{" + b + "\"listen\": {\"proxyProtocol\": \"v2\"}}", "listen.proxyProtocol: expected a boolean, got \"v2\""},
            {"{" + b + "\"listen\": {\"proxy_protocol\": true}}",
                "listen.proxy_protocol: unknown key (known: host, port, protocols, tls, proxyProtocol, allowedHosts)"},
            // syntax, reported by position
            {"{\n  \"backends\": [],\n  \"listen\" {}\n}",
                "invalid JSON at line 3, column 12: Unexpected character ('{' (code 123)): was expecting a colon to separate field name and value"},
            {"{\"backends\": [],}", "invalid JSON at line 1, column 17: Unexpected character ('}' (code 125)): was expecting double-quote to start field name"},
            {"{\"backends\": [", "invalid JSON at line 1, column 15: Unexpected end-of-input: expected close marker for Array"},
            {"{" + b + "\"listen\": {\"port\": 1, \"port\": 2}}", "invalid JSON at line 1, column 78: Duplicate field 'port'"},
            {"{" + b + "/* no */ \"listen\": {}}", "invalid JSON at line 1, column 50: Unexpected character ('/' (code 47)): maybe a (non-standard) comment?"},
            {"{" + b + "\"listen\": {\"port\": NaN}}", "invalid JSON at line 1, column 72: Non-standard token 'NaN'"},
            {"{" + b + "\"listen\": {\"port\": 08}}", "invalid JSON at line 1, column 70: Invalid numeric value: Leading zeroes not allowed"},
            {"{" + ONE_BACKEND + "} {}", "invalid JSON at line 1, column 50: unexpected content after the top-level object"},
            {"{\"a\": " + "[".repeat(1001), "invalid JSON: Document nesting depth (1001) exceeds the maximum allowed (1000)"},
            {"", "invalid JSON: empty document"},
            {" \n ", "invalid JSON: empty document"},
            {"[]", "expected a JSON object at the top level, got an array"},
            {"\"config\"", "expected a JSON object at the top level, got \"config\""},
        }).map(jsonAndMessage -> Arguments.of((Object[]) jsonAndMessage));
    }

    @ParameterizedTest
    @MethodSource("errors")
    void reportsError(String json, String message) {
        assertError(json).isEqualTo(message);
    }

    // ---- files ----------------------------------------------------------------------------

    @Test
    void missingFile() {
        Path file = dir.resolve("config.json");

        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": no such file");
    }

    @Test
    void directoryInsteadOfFile() {
        assertThatThrownBy(() -> ConfigLoader.load(dir))
                .isInstanceOf(ConfigException.class)
                .hasMessage(dir + ": is a directory");
    }

    @Test
    void unreadableFile() throws IOException {
        Path file = Files.writeString(dir.resolve("config.json"), "{" + ONE_BACKEND + "}");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("---------"));
        assumeTrue(!Files.isReadable(file), "permissions are not enforced for this user");

        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": permission denied");
    }

    @Test
    void fileNotUtf8() throws IOException {
        Path file = Files.write(dir.resolve("config.json"), "{\"listen\": {\"host\": \"\u00e9\"}}"
                .getBytes(StandardCharsets.ISO_8859_1));

        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": not valid UTF-8");
    }

    @Test
    void syntaxErrorsInAFileNameTheFile() throws IOException {
        Path file = Files.writeString(dir.resolve("config.json"), "{\n  \"backends\": [\n    {\"url\" 1}]}\n");

        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": invalid JSON at line 3, column 12: "
                        + "Unexpected character ('1' (code 49)): was expecting a colon to separate field name and value");
    }

    @Test
    void valueErrorsInAFileNameThePath() throws IOException {
        Path file = Files.writeString(dir.resolve("config.json"), "{" + ONE_BACKEND + ", \"pool\": {\"maxConnectionsPerBackend\": 0}}");

        assertThatThrownBy(() -> ConfigLoader.load(file))
                .isInstanceOf(ConfigException.class)
                .hasMessage("pool.maxConnectionsPerBackend: 0 (expected: >= 1)");
    }

    // ---- records used directly -----------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"auto", "epoll", "io_uring", "nio"})
    void knownTransports(String transport) {
        assertThat(new ServerConfig(0, transport, 64).transport()).isEqualTo(transport);
    }

    @Test
    void constructorsReportFieldNames() {
        assertThatThrownBy(() -> new ListenConfig("0.0.0.0", 65536))
                .isInstanceOf(ConfigException.class)
                .hasMessage("port: 65536 (expected: 0..65535)");
        assertThatThrownBy(() -> new BackendConfig("a", null))
                .isInstanceOf(ConfigException.class)
                .hasMessage("url: required");
        assertThatThrownBy(() -> new ProxyConfig(null, List.of(), null, null, null, null, null, null, null, null))
                .isInstanceOf(ConfigException.class)
                .hasMessage("backends: required (at least one backend)");
    }

    private static AbstractStringAssert<?> assertError(String json) {
        Throwable thrown = catchThrowable(() -> ConfigLoader.parse(json));
        assertThat(thrown).isInstanceOf(ConfigException.class);
        String message = thrown.getMessage();
        assertThat(message).doesNotContain("\n", "\r", "com.fasterxml", "java.", "Exception", "dev.rproxy", "`");
        return assertThat(message);
    }
}
