package dev.rproxy.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A JSON document read with jackson-core's streaming parser into plain values: an object is a
 * {@code Map<String, Object>} in document order, an array a {@code List<Object>}, a string a
 * {@code String}, {@code true}/{@code false} a {@code Boolean}, a number a {@link Number} that keeps
 * its text, and {@code null} the {@link #NULL} marker (so that an explicit null is never mistaken
 * for a missing key).
 *
 * <p>Strict: duplicate keys, comments, {@code NaN}, leading zeroes and anything after the top-level
 * value are syntax errors, reported as {@code invalid JSON at line L, column C: reason}.
 */
final class JsonTree {

    /** An explicit JSON {@code null}. */
    static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    /** A JSON number as written; {@code integral} when it has no fraction and no exponent. */
    record Number(String text, boolean integral) {
        @Override
        public String toString() {
            return text;
        }
    }

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    /** Jackson's syntax messages continue with parser internals from these markers on. */
    private static final List<String> REASON_CUTS = List.of(
            " (start marker at", ": enable `", " (not recognized as one since", " [Source", "; line:", "`");

    private JsonTree() {
    }

    /**
     * Parses {@code text}, which must hold one JSON object. {@code sourcePrefix} starts every
     * message ({@code "config.json: "} or empty).
     */
    static Map<String, Object> parseObject(String text, String sourcePrefix) {
        // RFC 8259 section 8.1: a byte order mark is not part of the JSON text; parsers may ignore one.
        String json = text.startsWith("\uFEFF") ? text.substring(1) : text;
        Object root;
        try (JsonParser parser = FACTORY.createParser(json)) {
            if (parser.nextToken() == null) {
                throw new ConfigException(sourcePrefix + "invalid JSON: empty document");
            }
            root = value(parser);
            if (parser.nextToken() != null) {
                throw new ConfigException(sourcePrefix + "invalid JSON" + where(parser.currentTokenLocation())
                        + ": unexpected content after the top-level object");
            }
        } catch (JacksonException e) {
            throw new ConfigException(sourcePrefix + "invalid JSON" + where(e.getLocation()) + ": " + reason(e), e);
        } catch (IOException e) {
            throw new ConfigException(sourcePrefix + "invalid JSON: " + e.getMessage(), e); // not from a String
        }
        if (!(root instanceof Map)) {
            throw new ConfigException(sourcePrefix + "expected a JSON object at the top level, got " + describe(root));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> object = (Map<String, Object>) root;
        return object;
    }

    /** The value that starts at the parser's current token. */
    private static Object value(JsonParser parser) throws IOException {
        JsonToken token = parser.currentToken();
        switch (token) {
            case START_OBJECT: {
                Map<String, Object> object = new LinkedHashMap<>();
                while (parser.nextToken() == JsonToken.FIELD_NAME) {
                    String key = parser.currentName();
                    parser.nextToken();
                    object.put(key, value(parser));
                }
                return object;
            }
            case START_ARRAY: {
                List<Object> array = new ArrayList<>();
                while (parser.nextToken() != JsonToken.END_ARRAY) {
                    array.add(value(parser));
                }
                return array;
            }
            case VALUE_STRING:
                return parser.getText();
            case VALUE_NUMBER_INT:
                return new Number(parser.getText(), true);
            case VALUE_NUMBER_FLOAT:
                return new Number(parser.getText(), false);
            case VALUE_TRUE:
                return Boolean.TRUE;
            case VALUE_FALSE:
                return Boolean.FALSE;
            case VALUE_NULL:
                return NULL;
            default:
                throw new IllegalStateException("unexpected token " + token); // the parser rejects the rest
        }
    }

    /** A JSON value as a message shows it: strings quoted, objects and arrays by kind. */
    static String describe(Object value) {
        if (value == null) {
            return "nothing";
        }
        if (value instanceof Map) {
            return "an object";
        }
        if (value instanceof List) {
            return "an array";
        }
        if (value instanceof String s) {
            return Checks.quote(s);
        }
        return value.toString();
    }

    private static String where(JsonLocation location) {
        return location == null || location.getLineNr() < 1 ? ""
                : " at line " + location.getLineNr() + ", column " + location.getColumnNr();
    }

    /** A short reason: Jackson's message, first line, without location or feature names. */
    private static String reason(JacksonException e) {
        String message = e instanceof JsonProcessingException p ? p.getOriginalMessage() : e.getMessage();
        message = message == null ? "" : message.lines().findFirst().orElse("");
        message = message.replaceAll(", from `[^`]*`", "");
        for (String cut : REASON_CUTS) {
            int at = message.indexOf(cut);
            if (at >= 0) {
                message = message.substring(0, at);
            }
        }
        message = message.strip();
        return message.isEmpty() ? "malformed" : message;
    }
}
