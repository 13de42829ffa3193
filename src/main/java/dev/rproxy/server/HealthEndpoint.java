package dev.rproxy.server;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import dev.rproxy.proxy.LocalResponder;
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
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * The proxy's own {@code GET /_health} (and HEAD); never forwarded.
 *
 * <pre>{"status":"healthy"|"unhealthy","backends":[{"id","url","healthy","activeConnections"}]}</pre>
 *
 * 200 while at least one backend is healthy, 503 otherwise, so a load balancer in front of several
 * proxies can take this one out when it has nowhere to send traffic.
 */
public final class HealthEndpoint implements LocalResponder {
    static final String PATH = "/_health";
    private static final JsonFactory JSON = new JsonFactory();

    private final BackendGroup backends;

    public HealthEndpoint(BackendGroup backends) {
        this.backends = backends;
    }

    @Override
    public FullHttpResponse respond(HttpRequest request) {
        return isHealthRequest(request) ? healthResponse(HttpMethod.HEAD.equals(request.method())) : null;
    }

    private static boolean isHealthRequest(HttpRequest request) {
        String uri = request.uri();
        boolean pathMatches = uri.startsWith(PATH)
                && (uri.length() == PATH.length() || uri.charAt(PATH.length()) == '?');
        return pathMatches && (HttpMethod.GET.equals(request.method()) || HttpMethod.HEAD.equals(request.method()));
    }
    private FullHttpResponse healthResponse(boolean head) {
        // The status and each backend's flag come from the one set requests are routed by.
        List<Backend> routable = backends.routable();
        boolean any = !routable.isEmpty();
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            json.writeStringField("status", any ? "healthy" : "unhealthy");
            json.writeArrayFieldStart("backends");
            for (Backend b : backends.all()) {
                json.writeStartObject();
                json.writeStringField("id", b.id());
                json.writeStringField("url", b.url());
                json.writeBooleanField("healthy", routable.contains(b));
                json.writeNumberField("activeConnections", b.activeConnections());
                json.writeEndObject();
            }
            json.writeEndArray();
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // not from a byte array
        }
        byte[] bytes = out.toByteArray();
        ByteBuf body = head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(bytes);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                any ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE, body);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON)
                .set(HttpHeaderNames.CONTENT_LENGTH, bytes.length)
                .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE);
        return response;
    }
}
