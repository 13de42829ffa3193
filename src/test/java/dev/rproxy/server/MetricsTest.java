package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code GET /metrics} on the admin listener: what Prometheus scrapes, read back with the
 * Prometheus project's own text parser (Debian's python3-prometheus-client).
 */
class MetricsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    /** Reads the exposition on stdin; prints {"name{label=value,...}": value} for every sample. */
    private static final String PARSE = String.join("\n",
            "import sys, json",
            "from prometheus_client.parser import text_string_to_metric_families",
            "out = {}",
            "for family in text_string_to_metric_families(sys.stdin.read()):",
            "    for s in family.samples:",
            "        labels = ','.join(k + '=' + v for k, v in sorted(s.labels.items()))",
            "        out[s.name + '{' + labels + '}'] = s.value",
            "print(json.dumps(out))");

    @TempDir
    Path dir;

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(10))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The samples of {@code exposition} as the Prometheus parser reads them. */
    private static JsonNode parse(String exposition) throws Exception {
        String python = Files.exists(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
        Process process = new ProcessBuilder(python, "-c", PARSE).redirectErrorStream(true).start();
        try (OutputStream in = process.getOutputStream()) {
            in.write(exposition.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as("the parser's output: %s", out).isZero();
        return JSON.readTree(out);
    }

    @Test
    void theExpositionParsesAndCountsWhatHappened() throws Exception {
        try (TestBackend a = TestBackend.start("a", "127.0.0.1", 0); TestBackend b = TestBackend.start("b", "127.0.0.1", 0);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"admin\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                        + "\"upstreams\": {\"app\": {\"backends\": [{\"id\": \"a\", \"url\": \"" + a.url() + "\"},"
                        + "  {\"id\": \"b\", \"url\": \"" + b.url() + "\"}]}},"
                        + "\"routes\": [{\"match\": {\"pathPrefix\": \"/app\"}, \"upstream\": \"app\", \"stripPrefix\": \"/app\"}]")) {
            for (int i = 0; i < 10; i++) {
                assertThat(get(proxy.port(), "/app/x").statusCode()).isEqualTo(200);
            }
            assertThat(get(proxy.port(), "/app/status/503").statusCode()).isEqualTo(503);
            assertThat(get(proxy.port(), "/none").statusCode()).isEqualTo(404);
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.send("GET /app HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
                assertThat(raw.read().status()).isEqualTo(400);
            }

            HttpResponse<String> scrape = get(proxy.server().adminPort(), "/metrics");
            assertThat(scrape.statusCode()).isEqualTo(200);
            assertThat(scrape.headers().firstValue("content-type").orElse("")).startsWith("text/plain; version=0.0.4");
            JsonNode samples = parse(scrape.body());

            double ok = samples.path("rproxy_requests_total{backend=a,code=2xx,method=GET,upstream=app}").asDouble()
                    + samples.path("rproxy_requests_total{backend=b,code=2xx,method=GET,upstream=app}").asDouble();
            assertThat(ok).isEqualTo(10);
            assertThat(samples.path("rproxy_requests_total{backend=-,code=4xx,method=GET,upstream=-}").asDouble())
                    .as("the request no route took").isEqualTo(1);
            double fives = samples.path("rproxy_requests_total{backend=a,code=5xx,method=GET,upstream=app}").asDouble()
                    + samples.path("rproxy_requests_total{backend=b,code=5xx,method=GET,upstream=app}").asDouble();
            assertThat(fives).isEqualTo(1);
            assertThat(samples.path("rproxy_refused_requests_total{status=404}").asDouble()).isEqualTo(1);
            assertThat(samples.path("rproxy_refused_requests_total{status=400}").asDouble()).isEqualTo(1);
            assertThat(samples.path("rproxy_request_duration_seconds_count{upstream=app}").asDouble()).isEqualTo(11);
            assertThat(samples.path("rproxy_request_duration_seconds_bucket{le=+Inf,upstream=app}").asDouble()).isEqualTo(11);
            assertThat(samples.path("rproxy_response_body_bytes_total{backend=a,upstream=app}").asDouble()).isPositive();
            assertThat(samples.path("rproxy_backend_available{backend=a,upstream=app}").asDouble()).isEqualTo(1);
            assertThat(samples.path("rproxy_backend_connections{backend=a,upstream=app}").asDouble()).isPositive();
            assertThat(samples.path("rproxy_upstream_panic{upstream=app}").asDouble()).isZero();
            assertThat(samples.path("rproxy_retries_total{upstream=app}").isNumber()).isTrue();
            assertThat(samples.path("rproxy_client_connections{protocol=http/1.1,tls=false}").isNumber()).isTrue();
            assertThat(samples.path("rproxy_netty_direct_memory_bytes{}").isNumber()).isTrue();
            assertThat(samples.fieldNames()).toIterable().anyMatch(name -> name.startsWith("jvm_memory_used_bytes{"));
        }
    }
}
