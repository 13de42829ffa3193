package dev.rproxy.routing;

import io.netty.handler.codec.http.HttpRequest;
import java.util.List;

/** The routes in their order: the first that matches a request takes it. */
public final class Router {
    private final Route[] routes;

    public Router(List<Route> routes) {
        this.routes = routes.toArray(new Route[0]);
    }

    /** The route for {@code request}, or {@code null} when none matches (404). */
    public Route route(HttpRequest request) {
        for (Route r : routes) {
            if (r.matches(request)) {
                return r;
            }
        }
        return null;
    }
}
