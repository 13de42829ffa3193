package dev.rproxy.support;

import dev.rproxy.config.ConfigLoader;
import dev.rproxy.config.ProxyConfig;
import dev.rproxy.server.ProxyServer;
import dev.rproxy.testbackend.TestBackend;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real proxy on an ephemeral loopback port in front of real {@link TestBackend}s, started once
 * per test class and torn down after it (ports, threads and connections freed).
 *
 * <pre>
 * &#64;RegisterExtension
 * static final ProxyExtension proxy = ProxyExtension.withBackends(2).config("\"timeouts\":{\"responseMs\":500}");
 * </pre>
 */
public final class ProxyExtension implements BeforeAllCallback, AfterAllCallback {
    private final int backendCount;
    private final List<String> extraBackendUrls = new ArrayList<>();
    private final List<String> sections = new ArrayList<>();
    private String listen = "{\"host\":\"127.0.0.1\",\"port\":0}";
    private final List<TestBackend> backends = new ArrayList<>();
    private ProxyServer server;
    private int port;
    private HttpClient client;
    private java.util.concurrent.ExecutorService clientExecutor;

    private ProxyExtension(int backendCount) {
        this.backendCount = backendCount;
    }

    public static ProxyExtension withBackends(int count) {
        return new ProxyExtension(count);
    }

    /** Adds top-level config sections, e.g. {@code "\"timeouts\":{\"responseMs\":500}"}. */
    public ProxyExtension config(String jsonMembers) {
        sections.add(jsonMembers);
        return this;
    }

    /** Replaces the one plaintext loopback listener with {@code listenJson} (an object or an array). */
    public ProxyExtension listen(String listenJson) {
        this.listen = listenJson;
        return this;
    }

    /** Adds a backend that is not a {@link TestBackend} (e.g. a closed port or a raw backend). */
    public ProxyExtension extraBackend(String url) {
        extraBackendUrls.add(url);
        return this;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        for (int i = 0; i < backendCount; i++) {
            backends.add(TestBackend.start("backend" + (i + 1), "127.0.0.1", 0));
        }
        StringJoiner list = new StringJoiner(",", "[", "]");
        for (TestBackend b : backends) {
            list.add("{\"id\":\"" + b.id() + "\",\"url\":\"" + b.url() + "\"}");
        }
        for (int i = 0; i < extraBackendUrls.size(); i++) {
            list.add("{\"id\":\"extra" + (i + 1) + "\",\"url\":\"" + extraBackendUrls.get(i) + "\"}");
        }
        StringBuilder json = new StringBuilder("{\"listen\":").append(listen).append(",\"backends\":")
                .append(list);
        boolean healthGiven = false;
        for (String s : sections) {
            json.append(',').append(s);
            healthGiven |= s.contains("\"healthCheck\"");
        }
        if (!healthGiven) {
            json.append(",\"healthCheck\":{\"intervalMs\":200,\"timeoutMs\":1000}");
        }
        json.append('}');
        ProxyConfig config = ConfigLoader.parse(json.toString());
        server = new ProxyServer(config);
        port = server.start().getPort();
        clientExecutor = java.util.concurrent.Executors.newCachedThreadPool();
        client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).executor(clientExecutor).build();
    }

    /**
     * A proxy in front of one backend that is not a {@link TestBackend} (a scripted one), health
     * checks off; the caller closes it.
     */
    public static ProxyServer startInFrontOf(String backendUrl, String extraJsonMembers) throws Exception {
        ProxyServer server = new ProxyServer(ConfigLoader.parse("{\"listen\":{\"host\":\"127.0.0.1\",\"port\":0},"
                + "\"backends\":[{\"id\":\"scripted\",\"url\":\"" + backendUrl + "\"}],"
                + "\"healthCheck\":{\"enabled\":false}" + (extraJsonMembers.isEmpty() ? "" : "," + extraJsonMembers) + "}"));
        server.start();
        return server;
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (server != null) {
            server.shutdown();
        }
        for (TestBackend b : backends) {
            b.close();
        }
        if (clientExecutor != null) {
            clientExecutor.shutdownNow();
        }
    }

    public int port() {
        return port;
    }

    public ProxyServer server() {
        return server;
    }

    public TestBackend backend(int index) {
        return backends.get(index);
    }

    public List<TestBackend> backends() {
        return backends;
    }

    public URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + port + pathAndQuery);
    }

    /** A shared JDK HTTP client (keep-alive, HTTP/1.1). */
    public HttpClient client() {
        return client;
    }

    public HttpResponse<String> get(String pathAndQuery) throws Exception {
        return client.send(HttpRequest.newBuilder(uri(pathAndQuery)).version(HttpClient.Version.HTTP_1_1)
                        .timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
