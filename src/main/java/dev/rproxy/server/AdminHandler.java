package dev.rproxy.server;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.rproxy.admin.ProxyMetrics;
import dev.rproxy.backend.Backend;
import dev.rproxy.fleet.Fleet;
import dev.rproxy.backend.BackendSource;
import dev.rproxy.routing.Upstream;
import dev.rproxy.routing.Upstreams;
import io.netty.buffer.Unpooled;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin API, on the admin listener only (never the proxied ports):
 *
 * <ul>
 *   <li>{@code GET /}: the dashboard, a page from the jar that polls {@code GET /admin/stats};
 *   <li>{@code GET /metrics}: the Prometheus text exposition of the request counters, the state
 *       gauges and the JVM;
 *   <li>{@code GET /admin/upstreams}: every upstream and each backend's state, with the same facts
 *       as {@code /_health/backends/{id}};
 *   <li>{@code GET /admin/config}: the running configuration as JSON, fields that hold secrets
 *       (any name with password, secret or token in it) written {@code "***"};
 *   <li>{@code POST /admin/reload}: reads the configuration file again and applies it (see {@link
 *       ProxyServer#apply}); 400 with the error when the file is refused;
 *   <li>{@code POST /admin/backends/{id}/drain}: no new requests to that backend, those in flight
 *       finish; {@code POST /admin/backends/{id}/enable}: back in service (with slow start, when
 *       its upstream has it).
 * </ul>
 *
 * Answers are JSON; an unknown path is 404, a known path with another method 405 with {@code Allow}.
 * Requests are small and whole (aggregated up to 64 KiB before this handler).
 */
final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger log = LoggerFactory.getLogger(AdminHandler.class);
    private static final JsonFactory JSON = new JsonFactory();
    private static final String BACKENDS = "/admin/backends/";

    private static final PrometheusTextFormatWriter TEXT = PrometheusTextFormatWriter.create();

    private final ProxyServer server;
    private final PrometheusRegistry registry;
    /** The upstreams in force when the request at hand arrived. */
    private Upstreams upstreams;

    AdminHandler(ProxyServer server, PrometheusRegistry registry) {
        this.server = server;
        this.registry = registry;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        if (request.decoderResult().isSuccess() && new QueryStringDecoder(request.uri()).path().equals("/admin/reload")
                && HttpMethod.POST.equals(request.method())) {
            reload(ctx, HttpUtil.isKeepAlive(request));
            return;
        }
        FullHttpResponse response;
        if (!request.decoderResult().isSuccess()) {
            response = error(HttpResponseStatus.BAD_REQUEST, "bad request");
            HttpUtil.setKeepAlive(response, false);
        } else {
            response = answer(request);
        }
        boolean keepAlive = HttpUtil.isKeepAlive(request) && HttpUtil.isKeepAlive(response);
        HttpUtil.setKeepAlive(response, keepAlive);
        if (HttpMethod.HEAD.equals(request.method())) {
            response = response.replace(Unpooled.EMPTY_BUFFER);
        }
        if (keepAlive) {
            ctx.writeAndFlush(response, ctx.voidPromise());
        } else {
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
    }

    private FullHttpResponse answer(FullHttpRequest request) {
        upstreams = server.upstreams();
        String path = new QueryStringDecoder(request.uri()).path();
        HttpMethod method = request.method();
        boolean read = HttpMethod.GET.equals(method) || HttpMethod.HEAD.equals(method);
        if (path.equals("/") || path.equals("/dashboard")) {
            return read ? dashboard() : notAllowed("GET, HEAD");
        }
        if (path.equals("/admin/stats")) {
            return read ? json(HttpResponseStatus.OK, stats()) : notAllowed("GET, HEAD");
        }
        if (path.equals("/metrics")) {
            return read ? metrics() : notAllowed("GET, HEAD");
        }
        if (path.equals("/admin/reload")) {
            return notAllowed("POST");
        }
        if (path.equals("/admin/upstreams")) {
            return read ? json(HttpResponseStatus.OK, upstreamsReport()) : notAllowed("GET, HEAD");
        }
        if (path.equals("/admin/config")) {
            return read ? json(HttpResponseStatus.OK, configReport()) : notAllowed("GET, HEAD");
        }
        if (path.startsWith(BACKENDS)) {
            String rest = path.substring(BACKENDS.length());
            int slash = rest.lastIndexOf('/');
            String action = slash < 0 ? "" : rest.substring(slash + 1);
            if (slash > 0 && (action.equals("drain") || action.equals("enable"))) {
                if (!HttpMethod.POST.equals(method)) {
                    return notAllowed("POST");
                }
                return setDraining(rest.substring(0, slash), action.equals("drain"));
            }
        }
        return error(HttpResponseStatus.NOT_FOUND, "no such admin endpoint: " + path);
    }

    /** The dashboard page, from the jar: one file with its styles and script, nothing from elsewhere. */
    private static FullHttpResponse dashboard() {
        byte[] page = DASHBOARD;
        FullHttpResponse response = json(HttpResponseStatus.OK, page);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, "text/html; charset=utf-8")
                .set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline';"
                        + " connect-src 'self'; img-src data:")
                .set("X-Content-Type-Options", "nosniff");
        return response;
    }

    private static final byte[] DASHBOARD = load("dashboard.html");

    private static byte[] load(String resource) {
        try (java.io.InputStream in = AdminHandler.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + resource);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * What the dashboard polls: the counters so far (it takes differences between polls for rates
     * and percentiles) and each backend's state, per upstream; with {@code redis}, the fleet as
     * this proxy sees it ({@code fleet}: connected, mode, members, health events, skipped probes).
     */
    private byte[] stats() {
        ProxyMetrics metrics = server.metrics();
        double[] bounds = ProxyMetrics.bounds();
        return write(json -> {
            json.writeStartObject();
            json.writeNumberField("timeMillis", System.currentTimeMillis());
            json.writeArrayFieldStart("bounds");
            for (int i = 0; i < bounds.length - 1; i++) {
                json.writeNumber(bounds[i]);
            }
            json.writeEndArray();
            json.writeArrayFieldStart("upstreams");
            for (Upstream u : upstreams.all()) {
                json.writeStartObject();
                json.writeStringField("name", u.name());
                json.writeStringField("balancer", u.config().balancer());
                json.writeBooleanField("panic", u.backends().inPanic());
                json.writeNumberField("inFlight", u.requestsInFlight());
                long[] classes = metrics.statusClasses(u.metricsSlot());
                for (Backend b : u.backends().all()) {
                    long[] more = metrics.statusClasses(b.metricsSlot());
                    for (int k = 0; k < classes.length; k++) {
                        classes[k] += more[k];
                    }
                }
                json.writeArrayFieldStart("statusClasses");
                for (long n : classes) {
                    json.writeNumber(n);
                }
                json.writeEndArray();
                json.writeArrayFieldStart("durationBuckets");
                for (long n : metrics.durationBuckets(u.metricsIndex())) {
                    json.writeNumber(n);
                }
                json.writeEndArray();
                json.writeArrayFieldStart("backends");
                long now = System.nanoTime();
                for (Backend b : u.backends().all()) {
                    json.writeStartObject();
                    json.writeStringField("id", b.id());
                    json.writeStringField("url", b.url());
                    String state = HealthEndpoint.state(u, b, now);
                    json.writeStringField("state", state);
                    json.writeStringField("reason", HealthEndpoint.reason(b, state));
                    json.writeNumberField("inFlight", b.activeConnections());
                    json.writeNumberField("ejections", b.ejectionsSinceStart());
                    long total = 0;
                    for (long n : metrics.statusClasses(b.metricsSlot())) {
                        total += n;
                    }
                    json.writeNumberField("requests", total);
                    json.writeEndObject();
                }
                json.writeEndArray();
                json.writeEndObject();
            }
            json.writeEndArray();
            Fleet fleet = server.fleet();
            if (fleet != null) {
                json.writeObjectFieldStart("fleet");
                json.writeStringField("id", fleet.id());
                json.writeBooleanField("connected", fleet.connected());
                json.writeStringField("mode", fleet.mode().label());
                json.writeNumberField("members", fleet.members());
                json.writeNumberField("healthPublished", fleet.health().published());
                json.writeNumberField("healthReceived", fleet.health().received());
                json.writeNumberField("probesSkipped", fleet.probeClaims().skipped());
                json.writeEndObject();
            }
            json.writeEndObject();
        });
    }

    /** The Prometheus text exposition (format 0.0.4) of everything registered. */
    private FullHttpResponse metrics() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 * 1024);
        try {
            TEXT.write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        FullHttpResponse response = json(HttpResponseStatus.OK, out.toByteArray());
        response.headers().set(HttpHeaderNames.CONTENT_TYPE, PrometheusTextFormatWriter.CONTENT_TYPE);
        return response;
    }

    private FullHttpResponse setDraining(String id, boolean drain) {
        Backend b = upstreams.backend(id);
        if (b == null) {
            return error(HttpResponseStatus.NOT_FOUND, "no backend with id \"" + id + "\"");
        }
        boolean changed = b.setDraining(drain);
        log.info("admin: backend {} {}{}", id, drain ? "drain" : "enable", changed ? "" : " (already so)");
        Upstream u = upstreams.upstreamOf(b);
        return json(HttpResponseStatus.OK, write(json -> {
            json.writeStartObject();
            json.writeBooleanField("changed", changed);
            HealthEndpoint.writeBackend(json, u, b);
            json.writeEndObject();
        }));
    }

    private byte[] upstreamsReport() {
        return write(json -> {
            json.writeStartObject();
            json.writeObjectFieldStart("upstreams");
            for (Upstream u : upstreams.all()) {
                json.writeObjectFieldStart(u.name());
                json.writeStringField("balancer", u.config().balancer());
                json.writeBooleanField("panic", u.backends().inPanic());
                json.writeNumberField("available", u.backends().routable().size());
                json.writeNumberField("requestsInFlight", u.requestsInFlight());
                json.writeNumberField("retriesInFlight", u.retriesInFlight());
                BackendSource.Status discovery = u.discoveryStatus();
                if (discovery != null) {
                    json.writeObjectFieldStart("discovery");
                    if (u.config().discovery().fromRedis()) {
                        json.writeStringField("redis", u.config().discovery().redis());
                    } else {
                        json.writeStringField("dns", u.config().discovery().dns());
                    }
                    json.writeStringField("state", discovery.state());
                    json.writeStringField("detail", discovery.detail());
                    json.writeEndObject();
                }
                json.writeArrayFieldStart("backends");
                for (Backend b : u.backends().all()) {
                    json.writeStartObject();
                    HealthEndpoint.writeBackend(json, u, b);
                    json.writeEndObject();
                }
                json.writeEndArray();
                json.writeEndObject();
            }
            json.writeEndObject();
            json.writeEndObject();
        });
    }

    /** The configuration as its records write themselves ({@link ConfigReport}), secrets replaced. */
    private byte[] configReport() {
        return write(json -> ConfigReport.write(json, server.config()));
    }

    /**
     * Reloads from a thread of its own (binding and probing must not run on an event loop) and
     * answers when it is done: 200 with the outcome, or 400 with the one-line error of a refused
     * file (the running configuration stays).
     */
    private void reload(ChannelHandlerContext ctx, boolean keepAlive) {
        server.reloadAsync().whenComplete((outcome, failure) -> ctx.executor().execute(() -> {
            FullHttpResponse response;
            if (failure == null) {
                response = json(HttpResponseStatus.OK, write(json -> {
                    json.writeStartObject();
                    json.writeStringField("result", outcome);
                    json.writeEndObject();
                }));
            } else {
                Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                        ? failure.getCause() : failure;
                response = error(HttpResponseStatus.BAD_REQUEST, cause.getMessage());
            }
            HttpUtil.setKeepAlive(response, keepAlive);
            if (keepAlive) {
                ctx.writeAndFlush(response, ctx.voidPromise());
            } else {
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            }
        }));
    }

    @FunctionalInterface
    private interface JsonWriting {
        void write(JsonGenerator json) throws IOException;
    }

    private static byte[] write(JsonWriting writing) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            writing.write(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static FullHttpResponse notAllowed(String allow) {
        FullHttpResponse response = error(HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed");
        response.headers().set(HttpHeaderNames.ALLOW, allow);
        return response;
    }

    private static FullHttpResponse error(HttpResponseStatus status, String message) {
        return json(status, write(json -> {
            json.writeStartObject();
            json.writeStringField("error", message);
            json.writeEndObject();
        }));
    }

    private static FullHttpResponse json(HttpResponseStatus status, byte[] body) {
        FullHttpResponse response = new DefaultFullHttpResponse(io.netty.handler.codec.http.HttpVersion.HTTP_1_1, status,
                Unpooled.wrappedBuffer(body));
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                .set(HttpHeaderNames.CONTENT_LENGTH, body.length)
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE);
        return response;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("[{}] admin connection failed: {}", ctx.channel().id(), cause.toString());
        ctx.close();
    }
}
