package dev.rproxy.support;

import dev.rproxy.server.ProxyServer;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A proxy in front of one {@link RawBackend}, started once per test class, for tests of the exact
 * bytes each side sees. Before each test, requests the backend recorded for earlier tests are
 * forgotten.
 */
public final class RawBackendProxyExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback {
    private final String initialResponse;
    private RawBackend backend;
    private ProxyServer proxy;

    public RawBackendProxyExtension(String initialResponse) {
        this.initialResponse = initialResponse;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        backend = new RawBackend(initialResponse);
        proxy = ProxyExtension.startInFrontOf(backend.url(), "");
    }

    @Override
    public void beforeEach(ExtensionContext context) throws InterruptedException {
        while (backend.nextRequest(0, TimeUnit.MILLISECONDS) != null) {
            // recorded for an earlier test
        }
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

    public RawBackend backend() {
        return backend;
    }

    public ProxyServer proxy() {
        return proxy;
    }
}
