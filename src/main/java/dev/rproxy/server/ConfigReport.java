package dev.rproxy.server;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The configuration records written as JSON, each record component a key (the configuration's
 * own key names), absent values left out, file paths as strings; a component whose name says it
 * holds a secret (password, secret, token) written {@code "***"}, and so is the user information
 * of a URL ({@code redis://user:password@host}).
 */
final class ConfigReport {
    private static final Pattern SECRET = Pattern.compile(".*(password|secret|token).*");
    private static final Pattern USER_INFO = Pattern.compile("^([a-z][a-z0-9+.-]*://)[^/@]*@");

    private ConfigReport() {
    }

    static void write(JsonGenerator json, Object value) throws IOException {
        if (value == null) {
            json.writeNull();
        } else if (value instanceof Record record) {
            json.writeStartObject();
            for (RecordComponent component : record.getClass().getRecordComponents()) {
                Object field = read(component, record);
                if (field == null) {
                    continue;
                }
                json.writeFieldName(component.getName());
                if (SECRET.matcher(component.getName().toLowerCase(Locale.ROOT)).matches()) {
                    json.writeString("***");
                } else if (field instanceof String s && component.getName().equals("url")) {
                    json.writeString(USER_INFO.matcher(s).replaceFirst("$1***@"));
                } else {
                    write(json, field);
                }
            }
            json.writeEndObject();
        } else if (value instanceof Map<?, ?> map) {
            json.writeStartObject();
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                json.writeFieldName(String.valueOf(entry.getKey()));
                write(json, entry.getValue());
            }
            json.writeEndObject();
        } else if (value instanceof Collection<?> list) {
            json.writeStartArray();
            for (Object item : list) {
                write(json, item);
            }
            json.writeEndArray();
        } else if (value instanceof Boolean b) {
            json.writeBoolean(b);
        } else if (value instanceof Integer || value instanceof Long) {
            json.writeNumber(((Number) value).longValue());
        } else if (value instanceof Path path) {
            json.writeString(path.toString());
        } else {
            json.writeString(value.toString());
        }
    }

    private static Object read(RecordComponent component, Record record) {
        try {
            return component.getAccessor().invoke(record);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException("cannot read " + component.getName(), e);
        }
    }
}
