// A one-line JSON object writer for monami-mn's event stream (one event per line).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace monami::mn {

class JsonObject {
  public:
    JsonObject& add(std::string_view key, std::string_view value) {
        key_(key);
        text_ += quote(value);
        return *this;
    }
    JsonObject& add(std::string_view key, const char* value) {
        return add(key, std::string_view(value));
    }
    JsonObject& add(std::string_view key, const std::string& value) {
        return add(key, std::string_view(value));
    }
    JsonObject& add(std::string_view key, bool value) {
        key_(key);
        text_ += value ? "true" : "false";
        return *this;
    }
    template <class T>
    requires std::is_integral_v<T> &&
        (!std::is_same_v<T, bool>)JsonObject& add(std::string_view key, T value) {
        key_(key);
        text_ += std::to_string(value);
        return *this;
    }
    JsonObject& add(std::string_view key, const JsonObject& value) {
        key_(key);
        text_ += value.str();
        return *this;
    }
    // A value that is already JSON (an array built by the caller).
    JsonObject& add_raw(std::string_view key, std::string_view json) {
        key_(key);
        text_ += json;
        return *this;
    }
    std::string str() const { return "{" + text_ + "}"; }
    bool empty() const { return text_.empty(); }

    static std::string quote(std::string_view s) {
        std::string out = "\"";
        for (char c : s) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                static const char* hex = "0123456789abcdef";
                out += "\\u00";
                out += hex[(c >> 4) & 0xf];
                out += hex[c & 0xf];
            } else {
                out += c;
            }
        }
        return out + "\"";
    }

  private:
    void key_(std::string_view key) {
        if (!text_.empty()) text_ += ',';
        text_ += quote(key);
        text_ += ':';
    }
    std::string text_;
};

}  // namespace monami::mn
