package dev.rproxy.config;

import java.util.List;

/**
 * Event loop settings.
 *
 * @param ioThreads worker event loops, >= 0; 0 means one per available processor
 * @param transport {@code "auto"} (epoll when available, else NIO), {@code "epoll"} or {@code "nio"}
 */
public record ServerConfig(int ioThreads, String transport) {

    public static final String TRANSPORT_AUTO = "auto";
    public static final String TRANSPORT_EPOLL = "epoll";
    public static final String TRANSPORT_NIO = "nio";

    // Declared before DEFAULT: static initialisers run in order and the constructor reads it.
    private static final List<String> TRANSPORTS = List.of(TRANSPORT_AUTO, TRANSPORT_EPOLL, TRANSPORT_NIO);

    public static final ServerConfig DEFAULT = new ServerConfig(0, TRANSPORT_AUTO);

    public ServerConfig {
        Checks.atLeast("ioThreads", ioThreads, 0);
        Checks.oneOf("transport", transport, TRANSPORTS);
    }
}
