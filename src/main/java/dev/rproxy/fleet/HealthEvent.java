package dev.rproxy.fleet;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Locale;

/**
 * One change of a backend's health that a proxy saw on its own and tells the fleet, as published
 * on {@link HealthChannel#CHANNEL}: a JSON object
 * <pre>{@code
 * {"v":1,"from":"<instance id>","backend":"<id>","url":"<url>","event":"ejected|ejection_over|down|up",
 *  "forMs":<how long it holds>,"until":<epoch ms it ends, by the sender's clock>,"reason":"<why>"}
 * }</pre>
 * {@code forMs} and {@code until} are 0 for {@code ejection_over} and {@code up}. A receiver times
 * what it learns by {@code forMs} from when the message arrives, never by {@code until}, so the
 * proxies' clocks need not agree ({@code until} is for people reading the channel).
 */
public record HealthEvent(String from, String backend, String url, Kind kind, long forMs, long untilMillis, String reason) {
    private static final JsonFactory JSON = new JsonFactory();

    /** What happened to the backend on the sending proxy. */
    public enum Kind {
        /** Ejected by outlier detection for {@code forMs}. */
        EJECTED,
        /** That ejection ended (its time was up, or an active probe passed). */
        EJECTION_OVER,
        /** Marked down by active health checks; holds {@code forMs} unless confirmed again. */
        DOWN,
        /** Healthy again by active health checks. */
        UP;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        static Kind of(String label) {
            return valueOf(label.toUpperCase(Locale.ROOT));
        }
    }

    public HealthEvent {
        reason = reason == null ? "" : reason;
    }

    /** The message's text. */
    public String encode() {
        StringWriter out = new StringWriter(160);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.writeStartObject();
            json.writeNumberField("v", 1);
            json.writeStringField("from", from);
            json.writeStringField("backend", backend);
            json.writeStringField("url", url);
            json.writeStringField("event", kind.label());
            json.writeNumberField("forMs", forMs);
            json.writeNumberField("until", untilMillis);
            json.writeStringField("reason", reason);
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // not from a StringWriter
        }
        return out.toString();
    }

    /** The event in {@code text}, or {@code null} when it is not one (another version, a field missing, not JSON). */
    public static HealthEvent decode(String text) {
        String from = null;
        String backend = null;
        String url = null;
        String event = null;
        String reason = "";
        long forMs = 0;
        long until = 0;
        long version = 0;
        try (JsonParser json = JSON.createParser(text)) {
            if (json.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (json.nextToken() == JsonToken.FIELD_NAME) {
                String name = json.currentName();
                JsonToken value = json.nextToken();
                if (value == JsonToken.START_OBJECT || value == JsonToken.START_ARRAY) {
                    json.skipChildren();
                    continue;
                }
                switch (name) {
                    case "v" -> version = json.getValueAsLong();
                    case "from" -> from = json.getValueAsString();
                    case "backend" -> backend = json.getValueAsString();
                    case "url" -> url = json.getValueAsString();
                    case "event" -> event = json.getValueAsString();
                    case "forMs" -> forMs = json.getValueAsLong();
                    case "until" -> until = json.getValueAsLong();
                    case "reason" -> reason = json.getValueAsString();
                    default -> {
                        // a field a later version adds
                    }
                }
            }
            if (version != 1 || from == null || backend == null || url == null || event == null || forMs < 0) {
                return null;
            }
            return new HealthEvent(from, backend, url, Kind.of(event), forMs, until, reason);
        } catch (IOException | IllegalArgumentException e) {
            return null;
        }
    }
}
