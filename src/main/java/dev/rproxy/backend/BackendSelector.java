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

    /**
     * A backend other than {@code excluded} for a retry, or {@code null} when no other is healthy.
     * Asks {@link #select} a few times: a strategy that keeps choosing {@code excluded} (a hash)
     * gets no retry rather than a wait.
     */
    default Backend selectOther(HttpRequest request, SocketAddress client, Backend excluded) {
        for (int i = 0; i < 4; i++) {
            Backend b = select(request, client);
            if (b == null) {
                return null;
            }
            if (b != excluded) {
                return b;
            }
        }
        return null;
    }
}
