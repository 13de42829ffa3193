package dev.rproxy.support;

import dev.rproxy.server.ProxyServer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A proxy in front of one test backend of kind {@code B}, both started once per test class and
 * closed after it, proxy first.
 */
abstract class ProxyInFrontExtension<B extends AutoCloseable> implements BeforeAllCallback, AfterAllCallback {
    private B backend;
    private ProxyServer proxy;

    /** Starts the backend; called once, before the proxy. */
    abstract B startBackend() throws Exception;

    abstract String urlOf(B backend);

    /** Extra members of the proxy's configuration object; none by default. */
    String proxyConfig() {
        return "";
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        backend = startBackend();
        proxy = ProxyExtension.startInFrontOf(urlOf(backend), proxyConfig());
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

    public B backend() {
        return backend;
    }

    public ProxyServer proxy() {
        return proxy;
    }

    public int port() {
        return proxy.port();
    }
}
