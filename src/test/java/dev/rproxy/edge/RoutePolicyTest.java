package dev.rproxy.edge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.config.RateLimitConfig;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.StatusBackend;
import dev.rproxy.support.TestCertificates;
import io.netty.pkitesting.X509Bundle;
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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A route's policy against the abuse each part of it stops: a flood against a rate limit, too many
 * requests in flight for one key, clients outside the allowed blocks, oversized requests; and the
 * fields it puts on responses (rate-limit state, the security preset, set and removed fields).
 */
class RoutePolicyTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private static HttpResponse<String> get(ConfiguredProxy proxy, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                .timeout(Duration.ofSeconds(10));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String config(StatusBackend backend, String rateLimits, String routes) {
        return "\"healthCheck\": {\"enabled\": false},"
                + (rateLimits.isEmpty() ? "" : "\"rateLimits\": {" + rateLimits + "},")
                + "\"upstreams\": {\"app\": {\"backends\": [" + backend.json() + "]}},"
                + "\"routes\": [" + routes + "]";
    }

    @Test
    void aFloodGets429WithRetryAfterAndEveryResponseSaysWhereTheClientStands() throws Exception {
        try (StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, config(app,
                        "\"per-ip\": {\"key\": \"client_ip\", \"requestsPerSecond\": 1, \"burst\": 2}",
                        "{\"match\": {\"pathPrefix\": \"/api\"}, \"upstream\": \"app\", \"rateLimit\": [\"per-ip\"]},"
                                + "{\"upstream\": \"app\"}"))) {
            HttpResponse<String> first = get(proxy, "/api/a");
            assertThat(first.statusCode()).isEqualTo(200);
            assertThat(first.headers().firstValue("ratelimit-policy")).hasValue("\"per-ip\";q=2;w=2");
            assertThat(first.headers().firstValue("ratelimit")).hasValue("\"per-ip\";r=1;t=1");
            HttpResponse<String> second = get(proxy, "/api/a");
            assertThat(second.statusCode()).isEqualTo(200);
            assertThat(second.headers().firstValue("ratelimit").orElseThrow()).matches("\"per-ip\";r=0;t=[12]");
            HttpResponse<String> refused = get(proxy, "/api/a");
            assertThat(refused.statusCode()).isEqualTo(429);
            assertThat(refused.body()).isEqualTo("rate limit exceeded\n");
            assertThat(refused.headers().firstValue("retry-after")).hasValue("1");
            assertThat(refused.headers().firstValue("ratelimit")).hasValue("\"per-ip\";r=0;t=1");
            assertThat(refused.headers().firstValue("ratelimit-policy")).hasValue("\"per-ip\";q=2;w=2");
            assertThat(app.requests()).isEqualTo(2);
            // Another route is not limited, and says nothing of limits.
            HttpResponse<String> other = get(proxy, "/other");
            assertThat(other.statusCode()).isEqualTo(200);
            assertThat(other.headers().firstValue("ratelimit")).isEmpty();
            // After the advertised wait, a token is there again.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            int status;
            do {
                status = get(proxy, "/api/a").statusCode();
            } while (status == 429 && System.nanoTime() < deadline);
            assertThat(status).isEqualTo(200);
        }
    }

    @Test
    void theRateHoldsWithinTwoPercentOverTenSecondsOfSteadyLoad() throws Exception {
        int rate = 100;
        int burst = 10;
        try (StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, config(app,
                        "\"per-ip\": {\"key\": \"client_ip\", \"requestsPerSecond\": " + rate + ", \"burst\": " + burst + "}",
                        "{\"upstream\": \"app\", \"rateLimit\": [\"per-ip\"]}"))) {
            AtomicInteger ok = new AtomicInteger();
            AtomicInteger limited = new AtomicInteger();
            AtomicInteger other = new AtomicInteger();
            long start = System.nanoTime();
            long end = start + TimeUnit.SECONDS.toNanos(10);
            List<Thread> clients = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                Thread client = new Thread(() -> {
                    // About 250 attempts a second each, 1,000 in all: ten times the rate.
                    while (System.nanoTime() < end) {
                        try {
                            int status = get(proxy, "/x").statusCode();
                            (status == 200 ? ok : status == 429 ? limited : other).incrementAndGet();
                        } catch (Exception e) {
                            other.incrementAndGet();
                        }
                        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(4));
                    }
                });
                client.start();
                clients.add(client);
            }
            for (Thread client : clients) {
                client.join(30_000);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            double expected = burst + rate * seconds;
            assertThat(other.get()).isZero();
            assertThat(limited.get()).isGreaterThan(ok.get()); // the load was well over the rate
            assertThat(ok.get()).isBetween((int) (expected * 0.98), (int) Math.ceil(expected * 1.02));
            assertThat(app.requests()).isEqualTo(ok.get());
        }
    }

    @Test
    void aReloadKeepsTheBucketsOfAnUnchangedLimitSoItIsNoWayToResetOne() throws Exception {
        String limits = "\"per-ip\": {\"key\": \"client_ip\", \"requestsPerSecond\": 1, \"burst\": 2}";
        try (StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, config(app, limits,
                        "{\"upstream\": \"app\", \"rateLimit\": [\"per-ip\"]}"))) {
            assertThat(get(proxy, "/").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/").statusCode()).isEqualTo(429);
            RateLimiter before = proxy.server().upstreams().rateLimits().get("per-ip");
            // Another route added; the limit itself unchanged.
            String text = Files.readString(proxy.file()).replace("\"routes\": [",
                    "\"routes\": [{\"match\": {\"pathPrefix\": \"/new\"}, \"upstream\": \"app\"},");
            Files.writeString(proxy.file(), text);
            proxy.server().reloadAsync().get(10, TimeUnit.SECONDS);
            assertThat(proxy.server().upstreams().rateLimits().get("per-ip")).isSameAs(before);
            assertThat(get(proxy, "/").statusCode()).isEqualTo(429);
            assertThat(get(proxy, "/new").statusCode()).isEqualTo(200);
        }
    }

    @Test
    void keysWhoseBucketsAreFullAgainAreSweptAndOnesInFlightAreKept() throws Exception {
        RateLimiter limiter = new RateLimiter("t", new RateLimitConfig("client_ip", 10, 1, 1, 100));
        RateLimiter.Counter idle = limiter.counter("idle");
        assertThat(limiter.take(idle, RateLimiter.now())).isGreaterThanOrEqualTo(0);
        RateLimiter.Counter busy = limiter.counter("busy");
        assertThat(limiter.enter(busy)).isTrue();
        limiter.sweep();
        assertThat(limiter.size()).isEqualTo(2); // idle's bucket refills within 100 ms, busy has one in flight
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            limiter.sweep();
            return limiter.size() == 1;
        });
        busy.leave();
        limiter.sweep();
        assertThat(limiter.size()).isZero();
    }

    @Test
    void keysAreCountedApartAndARequestWithoutTheKeyIsNotCounted() throws Exception {
        try (StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, config(app,
                        "\"per-key\": {\"key\": \"header:X-Api-Key\", \"requestsPerSecond\": 1, \"burst\": 1}",
                        "{\"upstream\": \"app\", \"rateLimit\": [\"per-key\"]}"))) {
            assertThat(get(proxy, "/", "X-Api-Key", "a").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/", "X-Api-Key", "a").statusCode()).isEqualTo(429);
            assertThat(get(proxy, "/", "X-Api-Key", "b").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/").statusCode()).isEqualTo(200);
            // Over-long values share one key, so long keys cannot make the table large.
            assertThat(get(proxy, "/", "X-Api-Key", "x".repeat(300)).statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/", "X-Api-Key", "y".repeat(300)).statusCode()).isEqualTo(429);
        }
    }

    @Test
    void pastMaxKeysNewKeysShareOneBucketSoMemoryStaysBounded() throws Exception {
        try (StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, config(app,
                        "\"per-key\": {\"key\": \"header:X-Api-Key\", \"requestsPerSecond\": 1, \"burst\": 1, \"maxKeys\": 2}",
                        "{\"upstream\": \"app\", \"rateLimit\": [\"per-key\"]}"))) {
            assertThat(get(proxy, "/", "X-Api-Key", "a").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/", "X-Api-Key", "b").statusCode()).isEqualTo(200);
            // Two keys are tracked: c and d are new and share one bucket of one token.
            assertThat(get(proxy, "/", "X-Api-Key", "c").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/", "X-Api-Key", "d").statusCode()).isEqualTo(429);
            RateLimiter limiter = proxy.server().upstreams().rateLimits().get("per-key");
            assertThat(limiter.size()).isEqualTo(2);
            assertThat(limiter.overflowed()).isEqualTo(2);
        }
    }

    @Test
    void aKeyWithTooManyRequestsInFlightGets429WhileOthersGoOn() throws Exception {
        try (StatusBackend slow = new StatusBackend("slow", 200).delayMs(1500);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, config(slow,
                        "\"in-flight\": {\"key\": \"header:X-Tenant\", \"maxConcurrent\": 2}",
                        "{\"upstream\": \"app\", \"rateLimit\": [\"in-flight\"]}"))) {
            List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                all.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/"))
                        .header("X-Tenant", "t1").timeout(Duration.ofSeconds(10)).build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            HttpResponse<String> otherTenant = get(proxy, "/", "X-Tenant", "t2");
            assertThat(otherTenant.statusCode()).isEqualTo(200);
            List<HttpResponse<String>> responses = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> f : all) {
                responses.add(f.get(20, TimeUnit.SECONDS));
            }
            assertThat(responses.stream().filter(r -> r.statusCode() == 200)).hasSize(2);
            assertThat(responses.stream().filter(r -> r.statusCode() == 429))
                    .hasSize(3)
                    .allMatch(r -> r.body().equals("too many requests in flight\n"))
                    .allMatch(r -> r.headers().firstValue("retry-after").orElse("").equals("1"));
            // The places are given back: the key can send again.
            assertThat(get(proxy, "/", "X-Tenant", "t1").statusCode()).isEqualTo(200);
        }
    }

    @Test
    void denyAndAllowListsRefuseClientsOutsideWith403() throws Exception {
        try (StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, config(app, "",
                        "{\"match\": {\"pathPrefix\": \"/denied\"}, \"upstream\": \"app\", \"deny\": [\"127.0.0.0/8\"]},"
                                + "{\"match\": {\"pathPrefix\": \"/internal\"}, \"upstream\": \"app\", \"allow\": [\"10.0.0.0/8\", \"::1\"]},"
                                + "{\"match\": {\"pathPrefix\": \"/local\"}, \"upstream\": \"app\", \"allow\": [\"127.0.0.1\"]},"
                                + "{\"upstream\": \"app\"}"))) {
            HttpResponse<String> denied = get(proxy, "/denied");
            assertThat(denied.statusCode()).isEqualTo(403);
            assertThat(denied.body()).isEqualTo("forbidden\n");
            assertThat(get(proxy, "/internal").statusCode()).isEqualTo(403);
            assertThat(get(proxy, "/local").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/elsewhere").statusCode()).isEqualTo(200);
            assertThat(app.requests()).isEqualTo(2);
        }
    }

    @Test
    void theSecurityPresetAddsWhatIsMissingAndRemovesWhatTellsTheSoftware() throws Exception {
        try (StatusBackend app = new StatusBackend("app", 200).header("Server", "Apache/2.4.1")
                .header("X-Powered-By", "PHP/5.2").header("X-Frame-Options", "SAMEORIGIN");
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"securityHeaders\": true,"
                        + config(app, "\"tight\": {\"key\": \"route\", \"requestsPerSecond\": 1, \"burst\": 1}",
                        "{\"match\": {\"pathPrefix\": \"/raw\"}, \"upstream\": \"app\", \"securityHeaders\": false},"
                                + "{\"match\": {\"pathPrefix\": \"/custom\"}, \"upstream\": \"app\","
                                + "  \"responseHeaders\": {\"set\": {\"Server\": \"edge\", \"Cache-Control\": \"no-store\"},"
                                + "  \"remove\": [\"X-Frame-Options\"]}},"
                                + "{\"match\": {\"pathPrefix\": \"/tight\"}, \"upstream\": \"app\", \"rateLimit\": [\"tight\"]},"
                                + "{\"match\": {\"pathPrefix\": \"/\"}, \"upstream\": \"app\"}"))) {
            HttpResponse<String> preset = get(proxy, "/x");
            assertThat(preset.statusCode()).isEqualTo(200);
            assertThat(preset.headers().firstValue("server")).isEmpty();
            assertThat(preset.headers().firstValue("x-powered-by")).isEmpty();
            assertThat(preset.headers().firstValue("x-content-type-options")).hasValue("nosniff");
            assertThat(preset.headers().firstValue("referrer-policy")).hasValue("strict-origin-when-cross-origin");
            assertThat(preset.headers().firstValue("x-frame-options")).hasValue("SAMEORIGIN"); // the backend's own
            assertThat(preset.headers().firstValue("content-security-policy")).hasValue("frame-ancestors 'none'");
            assertThat(preset.headers().firstValue("strict-transport-security")).isEmpty(); // not over TLS

            HttpResponse<String> raw = get(proxy, "/raw");
            assertThat(raw.headers().firstValue("server")).hasValue("Apache/2.4.1");
            assertThat(raw.headers().firstValue("x-content-type-options")).isEmpty();

            HttpResponse<String> custom = get(proxy, "/custom");
            assertThat(custom.headers().firstValue("server")).hasValue("edge");
            assertThat(custom.headers().firstValue("cache-control")).hasValue("no-store");
            assertThat(custom.headers().firstValue("x-frame-options")).hasValue("DENY"); // removed, then the preset's
            assertThat(custom.headers().firstValue("x-powered-by")).isEmpty();

            // The proxy's own answers carry the preset too.
            assertThat(get(proxy, "/tight").statusCode()).isEqualTo(200);
            HttpResponse<String> refused = get(proxy, "/tight");
            assertThat(refused.statusCode()).isEqualTo(429);
            assertThat(refused.headers().firstValue("x-content-type-options")).hasValue("nosniff");
            assertThat(refused.headers().firstValue("content-security-policy")).hasValue("frame-ancestors 'none'");
        }
    }

    @Test
    void aListenerServesOnlyItsAllowedHostsAndItsRefusalsCarryThePreset() throws Exception {
        try (StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir,
                        "{\"host\": \"127.0.0.1\", \"port\": 0, \"allowedHosts\": [\"app.test\", \"*.example.test\"]}",
                        "\"securityHeaders\": true," + config(app, "",
                                "{\"match\": {\"pathPrefix\": \"/app\"}, \"upstream\": \"app\"}"))) {
            assertThat(raw(proxy, "app.test").status()).isEqualTo(200);
            assertThat(raw(proxy, "APP.test:8080").status()).isEqualTo(200);
            assertThat(raw(proxy, "api.example.test").status()).isEqualTo(200);
            for (String other : new String[] {"example.test", "evil.test", "app.test.evil.test", "127.0.0.1"}) {
                RawHttp.Response misdirected = raw(proxy, other);
                assertThat(misdirected.status()).as(other).isEqualTo(421);
                assertThat(misdirected.header("x-content-type-options")).isEqualTo("nosniff");
            }
            assertThat(app.requests()).isEqualTo(3);
            // The proxy's 404 (no route) carries the top-level preset too.
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.send("GET /nothing HTTP/1.1\r\nHost: app.test\r\n\r\n");
                RawHttp.Response notFound = raw.read();
                assertThat(notFound.status()).isEqualTo(404);
                assertThat(notFound.header("x-frame-options")).isEqualTo("DENY");
            }
        }
    }

    @Test
    void overTlsThePresetAddsStrictTransportSecurityOnHttp2AndHttp1() throws Exception {
        X509Bundle ca = TestCertificates.ca();
        TestCertificates.writeSite(ca, dir);
        try (StatusBackend app = new StatusBackend("app", 200).header("Server", "Apache/2.4.1");
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "{\"host\": \"127.0.0.1\", \"port\": 0,"
                        + " \"protocols\": [\"h2\", \"http/1.1\"], \"tls\": {\"certificates\": [{\"certFile\": \""
                        + dir.resolve("site.pem") + "\", \"keyFile\": \"" + dir.resolve("site.key") + "\"}]}}",
                        "\"securityHeaders\": true," + config(app, "", "{\"upstream\": \"app\"}"))) {
            SSLContext tls = SSLContext.getInstance("TLS");
            tls.init(null, new TrustManager[] {ca.toTrustManager()}, null);
            for (HttpClient.Version version : new HttpClient.Version[] {HttpClient.Version.HTTP_2, HttpClient.Version.HTTP_1_1}) {
                HttpClient https = HttpClient.newBuilder().sslContext(tls).version(version)
                        .connectTimeout(Duration.ofSeconds(5)).build();
                HttpResponse<String> r = https.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + proxy.port() + "/x"))
                        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.version()).isEqualTo(version);
                assertThat(r.statusCode()).isEqualTo(200);
                assertThat(r.headers().firstValue("strict-transport-security")).hasValue("max-age=31536000");
                assertThat(r.headers().firstValue("server")).isEmpty();
                assertThat(r.headers().firstValue("x-content-type-options")).hasValue("nosniff");
            }
        }
    }

    private static RawHttp.Response raw(ConfiguredProxy proxy, String host) throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /app HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
            return raw.read();
        }
    }

    @Test
    void aRoutesOwnSizeLimitsOverrideTheGlobalOnes() throws Exception {
        try (StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"limits\": {\"maxBodyBytes\": 100},"
                        + config(app, "",
                        "{\"match\": {\"pathPrefix\": \"/small\"}, \"upstream\": \"app\","
                                + "  \"limits\": {\"maxBodyBytes\": 10, \"maxHeaderBytes\": 400, \"maxRequestLineBytes\": 60}},"
                                + "{\"match\": {\"pathPrefix\": \"/upload\"}, \"upstream\": \"app\", \"limits\": {\"maxBodyBytes\": 1000}},"
                                + "{\"upstream\": \"app\"}"))) {
            assertThat(post(proxy, "/small", 10).statusCode()).isEqualTo(200);
            HttpResponse<String> tooLong = post(proxy, "/small", 11);
            assertThat(tooLong.statusCode()).isEqualTo(413);
            assertThat(tooLong.body()).isEqualTo("request body too large\n");
            assertThat(get(proxy, "/small/" + "x".repeat(60)).statusCode()).isEqualTo(414);
            assertThat(get(proxy, "/small", "X-Big", "y".repeat(400)).statusCode()).isEqualTo(431);
            assertThat(post(proxy, "/other", 100).statusCode()).isEqualTo(200);
            assertThat(post(proxy, "/other", 101).statusCode()).isEqualTo(413);
            assertThat(post(proxy, "/upload", 1000).statusCode()).isEqualTo(200); // over the global limit
            assertThat(post(proxy, "/upload", 1001).statusCode()).isEqualTo(413);
        }
    }

    private static HttpResponse<String> post(ConfiguredProxy proxy, String path, int bytes) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                .timeout(Duration.ofSeconds(10)).POST(HttpRequest.BodyPublishers.ofString("b".repeat(bytes))).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
