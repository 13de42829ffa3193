package dev.rproxy.support;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * What a running proxy answers, read over its sockets: a GET through it, which backend answered
 * (the test backend names itself), the backends {@code /_health} lists, one backend's report and an
 * upstream's discovery on the admin listener.
 */
public final class ProxyAnswers {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private ProxyAnswers() {
    }

    /** {@code GET path} on {@code port}, answered within 10 s. */
    public static HttpResponse<String> get(int port, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(TIMEOUT).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The backend a 200 from a test backend names. */
    public static String backendOf(HttpResponse<String> response) throws Exception {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).get("backend").asText();
    }

    /** The ids {@code /_health} lists. */
    public static List<String> ids(ConfiguredProxy proxy) throws Exception {
        List<String> ids = new ArrayList<>();
        for (JsonNode b : JSON.readTree(get(proxy.port(), "/_health").body()).get("backends")) {
            ids.add(b.get("id").asText());
        }
        return ids;
    }

    /** {@code /_health/backends/{id}}, or null when the proxy has no such backend. */
    public static JsonNode backendReport(ConfiguredProxy proxy, String id) throws Exception {
        HttpResponse<String> response = get(proxy.port(), "/_health/backends/" + id);
        return response.statusCode() == 200 ? JSON.readTree(response.body()) : null;
    }

    /** What {@code /admin/upstreams} says of {@code upstream}'s discovery. */
    public static JsonNode discoveryOf(ConfiguredProxy proxy, String upstream) throws Exception {
        String body = get(proxy.server().adminPort(), "/admin/upstreams").body();
        return JSON.readTree(body).get("upstreams").get(upstream).get("discovery");
    }
}
