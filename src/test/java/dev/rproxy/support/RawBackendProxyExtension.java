package dev.rproxy.support;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A proxy in front of one {@link RawBackend}, started once per test class, for tests of the exact
 * bytes each side sees. Before each test, requests the backend recorded for earlier tests are
 * forgotten.
 */
public final class RawBackendProxyExtension extends ProxyInFrontExtension<RawBackend> implements BeforeEachCallback {
    private final String initialResponse;

    public RawBackendProxyExtension(String initialResponse) {
        this.initialResponse = initialResponse;
    }

    @Override
    RawBackend startBackend() throws Exception {
        return new RawBackend(initialResponse);
    }

    @Override
    String urlOf(RawBackend backend) {
        return backend.url();
    }

    @Override
    public void beforeEach(ExtensionContext context) throws InterruptedException {
        while (backend().nextRequest(0, TimeUnit.MILLISECONDS) != null) {
            // recorded for an earlier test
        }
    }
}
