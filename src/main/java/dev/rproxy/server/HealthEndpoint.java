package dev.rproxy.server;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import dev.rproxy.proxy.LocalResponder;
import dev.rproxy.routing.Upstream;
import dev.rproxy.routing.Upstreams;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.List;

/**
 * The proxy's own health answers (GET and HEAD); never forwarded.
 *
 * <p>{@code /_health}: 200 while at least one backend is available, 503 otherwise, so a load
 * balancer in front of several proxies can take this one out when it has nowhere to send traffic:
 *
 * <pre>{"status":"healthy"|"unhealthy",
 *  "backends":[{"id","url","healthy","activeConnections","upstream","state"}],
 *  "upstreams":{"NAME":{"status","available","total","panic","balancer"}}}</pre>
 *
 * <p>{@code /_health/backends/{id}}: why one backend is in or out, 200 whatever its state (404 for
 * an unknown id): its {@code state} ({@code healthy}, {@code slow_start}, {@code ejected}, {@code
 * down}, {@code draining}), the last probes, the failures seen on traffic, its ejections, slow-start progress,
 * requests in flight and weight.
 */
public final class HealthEndpoint implements LocalResponder {
    static final String PATH = "/_health";
    static final String BACKENDS = "/_health/backends/";
    private static final JsonFactory JSON = new JsonFactory();

    private final Upstreams upstreams;

    public HealthEndpoint(Upstreams upstreams) {
        this.upstreams = upstreams;
    }

    @Override
    public FullHttpResponse respond(HttpRequest request) {
        String uri = request.uri();
        if (!uri.startsWith(PATH) || !(HttpMethod.GET.equals(request.method()) || HttpMethod.HEAD.equals(request.method()))) {
            return null;
        }
        int query = uri.indexOf('?');
        String path = query < 0 ? uri : uri.substring(0, query);
        boolean head = HttpMethod.HEAD.equals(request.method());
        if (path.equals(PATH)) {
            return health(head);
        }
        if (path.startsWith(BACKENDS) && path.length() > BACKENDS.length() && path.indexOf('/', BACKENDS.length()) < 0) {
            return backend(QueryStringDecoder.decodeComponent(path.substring(BACKENDS.length())), head);
        }
        return null;
    }

    private FullHttpResponse health(boolean head) {
        boolean any = false;
        for (Upstream u : upstreams.all()) {
            any |= !u.backends().routable().isEmpty();
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            json.writeStringField("status", any ? "healthy" : "unhealthy");
            json.writeArrayFieldStart("backends");
            for (Upstream u : upstreams.all()) {
                // Each group's flags from the one snapshot its requests are routed by.
                List<Backend> available = u.backends().routable();
                long now = System.nanoTime();
                for (Backend b : u.backends().all()) {
                    json.writeStartObject();
                    json.writeStringField("id", b.id());
                    json.writeStringField("url", b.url());
                    json.writeBooleanField("healthy", available.contains(b));
                    json.writeNumberField("activeConnections", b.activeConnections());
                    json.writeStringField("upstream", u.name());
                    json.writeStringField("state", state(u, b, now));
                    json.writeEndObject();
                }
            }
            json.writeEndArray();
            json.writeObjectFieldStart("upstreams");
            for (Upstream u : upstreams.all()) {
                BackendGroup group = u.backends();
                int available = group.routable().size();
                json.writeObjectFieldStart(u.name());
                json.writeStringField("status", available > 0 ? "healthy" : "unhealthy");
                json.writeNumberField("available", available);
                json.writeNumberField("total", group.all().size());
                json.writeBooleanField("panic", group.inPanic());
                json.writeStringField("balancer", u.config().balancer());
                json.writeNumberField("requestsInFlight", u.requestsInFlight());
                json.writeEndObject();
            }
            json.writeEndObject();
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // not from a byte array
        }
        return json(any ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE, out.toByteArray(), head);
    }

    /**
     * {@code draining}, {@code down} (by its probes, or by another member of the fleet), {@code ejected} (here or by the
     * fleet), {@code slow_start} or {@code healthy}.
     */
    static String state(Upstream u, Backend b, long now) {
        if (b.isDraining()) {
            return "draining";
        }
        if (!b.isHealthy() || b.isFleetDown()) {
            return "down";
        }
        if (b.isEjected()) {
            return "ejected";
        }
        long slowStartNanos = u.config().slowStartMs() * 1_000_000L;
        if (b.weightAt(now, slowStartNanos) < b.weight()) {
            return "slow_start";
        }
        return "healthy";
    }

    private FullHttpResponse backend(String id, boolean head) {
        Backend b = upstreams.backend(id);
        ByteArrayOutputStream out = new ByteArrayOutputStream(512);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            if (b == null) {
                json.writeStringField("error", "no backend with id \"" + id + "\"");
                json.writeEndObject();
                json.close();
                return json(HttpResponseStatus.NOT_FOUND, out.toByteArray(), head);
            }
            writeBackend(json, upstreams.upstreamOf(b), b);
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return json(HttpResponseStatus.OK, out.toByteArray(), head);
    }

    /** The fields of {@code /_health/backends/{id}} for {@code b} of {@code u}, into an open object. */
    static void writeBackend(JsonGenerator json, Upstream u, Backend b) throws IOException {
        long now = System.nanoTime();
        String state = state(u, b, now);
        json.writeStringField("id", b.id());
        json.writeStringField("url", b.url());
        json.writeStringField("upstream", u.name());
        json.writeStringField("state", state);
        json.writeStringField("reason", reason(b, state));
        json.writeBooleanField("routed", List.of(u.backends().routableSnapshot()).contains(b));
        json.writeBooleanField("panic", u.backends().inPanic());
        json.writeNumberField("inFlight", b.activeConnections());
        json.writeNumberField("weight", b.weight());
        long slowStartNanos = u.config().slowStartMs() * 1_000_000L;
        json.writeNumberField("effectiveWeight", Math.round(b.weightAt(now, slowStartNanos) * 100) / 100.0);
        if (state.equals("slow_start")) {
            json.writeObjectFieldStart("slowStart");
            json.writeNumberField("elapsedMs", (now - b.availableSinceNanos()) / 1_000_000L);
            json.writeNumberField("durationMs", u.config().slowStartMs());
            json.writeEndObject();
        }
        json.writeObjectFieldStart("activeChecks");
        json.writeBooleanField("enabled", u.healthChecker() != null);
        if (u.healthChecker() != null) {
            json.writeStringField("path", u.config().healthCheck().path());
            json.writeNumberField("intervalMs", u.config().healthCheck().intervalMs());
        }
        json.writeArrayFieldStart("probes");
        for (Backend.ProbeResult p : b.probes()) {
            json.writeStartObject();
            json.writeStringField("time", Instant.ofEpochMilli(p.timeMillis()).toString());
            json.writeBooleanField("ok", p.ok());
            json.writeStringField("outcome", p.outcome());
            json.writeNumberField("latencyMs", p.latencyMs());
            json.writeEndObject();
        }
        json.writeEndArray();
        json.writeEndObject();
        json.writeObjectFieldStart("passive");
        json.writeBooleanField("outlierDetection", u.outlierDetection());
        json.writeNumberField("failures", b.passiveFailures());
        json.writeNumberField("failuresInARow", b.passiveFailuresInARow());
        json.writeNumberField("ejectionCount", b.ejectionCount());
        json.writeNumberField("ejectionLeftMs", b.ejectionLeftMs());
        json.writeArrayFieldStart("ejections");
        for (Backend.Ejection e : b.ejections()) {
            json.writeStartObject();
            json.writeStringField("time", Instant.ofEpochMilli(e.timeMillis()).toString());
            json.writeNumberField("durationMs", e.durationMs());
            json.writeStringField("reason", e.reason());
            json.writeEndObject();
        }
        json.writeEndArray();
        json.writeEndObject();
    }

    /** One sentence on why the backend is in the state it is. */
    static String reason(Backend b, String state) {
        switch (state) {
            case "down":
                if (b.isHealthy()) {
                    String fleet = b.fleetDownReason();
                    return fleet != null ? fleet : "back in service";
                }
                String why = b.downReason();
                return "active probes failed: " + (why != null ? why : "no answer yet");
            case "ejected":
                List<Backend.Ejection> ejections = b.ejections();
                return "ejected by " + (b.ejectedBy() != null ? "the fleet" : "passive health") + " for "
                        + b.ejectionLeftMs() + " ms more: "
                        + (ejections.isEmpty() ? "?" : ejections.get(ejections.size() - 1).reason());
            case "slow_start":
                return "back in service, warming up: its share of traffic rises to its full weight";
            case "draining":
                return "taken out of service through the admin API: no new requests, those in flight finish";
            default:
                return "in service";
        }
    }

    private static FullHttpResponse json(HttpResponseStatus status, byte[] bytes, boolean head) {
        ByteBuf body = head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(bytes);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                .set(HttpHeaderNames.CONTENT_LENGTH, bytes.length)
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE);
        return response;
    }
}
