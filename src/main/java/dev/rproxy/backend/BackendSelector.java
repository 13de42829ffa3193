package dev.rproxy.backend;

import io.netty.handler.codec.http.HttpRequest;
import java.net.SocketAddress;

/**
 * Chooses the backend for one request. Implementations are called from every event loop at once
 * and must be lock-free; they see the request head so that hashing or header-based strategies can
 * be added beside round-robin.
 */
public interface BackendSelector {

    /** The backend for this request, or {@code null} when no backend is healthy. */
    Backend select(HttpRequest request, SocketAddress client);
}
