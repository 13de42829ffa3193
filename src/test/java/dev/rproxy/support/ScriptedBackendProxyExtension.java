package dev.rproxy.support;

import java.net.Socket;
import java.util.function.Consumer;

/**
 * A proxy in front of one scripted backend (a {@link LoopbackServer} running the test's own
 * per-connection code), started once per test class and closed after it.
 */
public final class ScriptedBackendProxyExtension extends ProxyInFrontExtension<LoopbackServer> {
    private final String name;
    private final Consumer<Socket> connectionHandler;
    private String config = "";

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
    LoopbackServer startBackend() throws Exception {
        return new LoopbackServer(name, connectionHandler);
    }

    @Override
    String urlOf(LoopbackServer backend) {
        return "http://127.0.0.1:" + backend.port();
    }

    @Override
    String proxyConfig() {
        return config;
    }
}
