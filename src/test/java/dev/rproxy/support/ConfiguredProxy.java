package dev.rproxy.support;

import dev.rproxy.config.ConfigLoader;
import dev.rproxy.server.ProxyServer;
import java.nio.file.Files;
import java.nio.file.Path;

/** A proxy started from a whole config.json text, on a port of its own; closing it shuts it down. */
public final class ConfiguredProxy implements AutoCloseable {
    private final ProxyServer server;
    private final Path file;

    /**
     * @param members the JSON members after {@code "listen"} (which is one loopback listener on
     *     port 0), such as {@code "upstreams": {...}, "routes": [...]}
     */
    public ConfiguredProxy(Path dir, String members) throws Exception {
        this(dir, "{\"host\": \"127.0.0.1\", \"port\": 0}", members);
    }

    /** With {@code listen} as given (one listener object or an array of them). */
    public ConfiguredProxy(Path dir, String listen, String members) throws Exception {
        Path config = Files.writeString(dir.resolve("proxy-" + System.nanoTime() + ".json"),
                "{\"listen\": " + listen + ", " + members + "}");
        server = new ProxyServer(ConfigLoader.load(config), config);
        this.file = config;
        try {
            server.start();
        } catch (Exception | Error e) {
            server.shutdown();
            throw e;
        }
    }

    public ProxyServer server() {
        return server;
    }

    /** The configuration file it was started from (a reload reads it again). */
    public Path file() {
        return file;
    }

    public int port() {
        return server.port();
    }

    /** The bound port of listener {@code index}. */
    public int port(int index) {
        return server.port(index);
    }

    @Override
    public void close() {
        server.shutdown();
    }
}
