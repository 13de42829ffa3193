package dev.rproxy.support;

import dev.rproxy.server.ProxyServer;
import java.net.Socket;
import java.util.function.Consumer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A proxy in front of one scripted backend (a {@link LoopbackServer} running the test's own
 * per-connection code), started once per test class and closed after it.
 */
public final class ScriptedBackendProxyExtension implements BeforeAllCallback, AfterAllCallback {
    private final String name;
    private final Consumer<Socket> connectionHandler;
    private String config = "";
    private LoopbackServer backend;
    private ProxyServer proxy;

    /** {@code connectionHandler} serves each backend connection on a thread of its own. */
    public ScriptedBackendProxyExtension(String name, Consumer<Socket> connectionHandler) {
        this.name = name;
        this.connectionHandler = connectionHandler;
    }

    /** Extra members of the proxy's configuration object, e.g. {@code "server":{"ioThreads":1}}. */
    public ScriptedBackendProxyExtension config(String jsonMembers) {
        this.config = jsonMembers;
        return this;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        backend = new LoopbackServer(name, connectionHandler);
        proxy = ProxyExtension.startInFrontOf("http://127.0.0.1:" + backend.port(), config);
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    public int port() {
        return proxy.port();
    }

    public LoopbackServer backend() {
        return backend;
    }
}
