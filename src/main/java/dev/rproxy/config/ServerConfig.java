package dev.rproxy.config;

import java.util.List;

/**
 * Event loop settings.
 *
 * @param ioThreads worker event loops, >= 0; 0 means one per available processor
 * @param transport {@code "auto"} (epoll when available, else NIO), {@code "epoll"}, {@code "io_uring"} or
 *     {@code "nio"}
 * @param descriptorReserve file descriptors kept free beyond client connections and one backend
 *     connection each (health probes, connections closed at the cap, idle pooled connections); the
 *     client connection cap is {@code (descriptor limit - open at start - descriptorReserve) / 2}
 */
public record ServerConfig(int ioThreads, String transport, int descriptorReserve) {

    public static final String TRANSPORT_AUTO = "auto";
    public static final String TRANSPORT_EPOLL = "epoll";
    public static final String TRANSPORT_NIO = "nio";
    public static final String TRANSPORT_IO_URING = "io_uring";

    // Declared before DEFAULT: static initialisers run in order and the constructor reads it.
    private static final List<String> TRANSPORTS = List.of(TRANSPORT_AUTO, TRANSPORT_EPOLL, TRANSPORT_IO_URING, TRANSPORT_NIO);

    public static final int MAX_DESCRIPTOR_RESERVE = 1 << 20;

    public static final ServerConfig DEFAULT = new ServerConfig(0, TRANSPORT_AUTO, 64);

    public ServerConfig {
        Checks.atLeast("ioThreads", ioThreads, 0);
        Checks.oneOf("transport", transport, TRANSPORTS);
        Checks.between("descriptorReserve", descriptorReserve, 0, MAX_DESCRIPTOR_RESERVE);
    }
}
