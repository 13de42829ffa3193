package dev.rproxy.proxy;

import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpRequest;

/**
 * Requests the proxy answers itself instead of forwarding (its own {@code /_health}; later metrics
 * or admin endpoints). Consulted by {@link RelayHandler} in request order, so a pipelined local
 * request is answered after the exchanges before it, never ahead of them.
 */
@FunctionalInterface
public interface LocalResponder {

    /** The answer to {@code request}, or {@code null} when it is to be forwarded. */
    FullHttpResponse respond(HttpRequest request);
}
