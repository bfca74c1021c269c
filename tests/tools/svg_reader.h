// Reading SVG (any XML) back in tests with an independent parser, expat: a document that is not
// well-formed XML fails to parse; one that is becomes a tree of elements to query.
#ifndef KILN_TESTS_TOOLS_SVG_READER_H_
#define KILN_TESTS_TOOLS_SVG_READER_H_

#include <expat.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::testing {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::string text;  // Character data directly inside, concatenated.
  std::vector<std::unique_ptr<XmlElement>> children;

  std::string Attribute(const std::string& key) const {
    auto it = attributes.find(key);
    return it == attributes.end() ? "" : it->second;
  }
  // Every element below (and including) this one that `match` accepts, in document order.
  void Collect(const std::function<bool(const XmlElement&)>& match,
               std::vector<const XmlElement*>& out) const {
    if (match(*this)) out.push_back(this);
    for (const auto& child : children) child->Collect(match, out);
  }
  std::vector<const XmlElement*> All(const std::string& element_name) const {
    std::vector<const XmlElement*> out;
    Collect([&](const XmlElement& e) { return e.name == element_name; }, out);
    return out;
  }
};

// The document's root element, or nullopt with `error` set ("line 3: mismatched tag").
inline std::unique_ptr<XmlElement> ParseXml(const std::string& text, std::string* error) {
  struct State {
    std::unique_ptr<XmlElement> root;
    std::vector<XmlElement*> open;
  } state;
  XML_Parser parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(parser, &state);
  XML_SetElementHandler(
      parser,
      [](void* data, const XML_Char* name, const XML_Char** attributes) {
        auto* s = static_cast<State*>(data);
        auto element = std::make_unique<XmlElement>();
        element->name = name;
        for (int i = 0; attributes[i] != nullptr; i += 2) {
          element->attributes[attributes[i]] = attributes[i + 1];
        }
        XmlElement* raw = element.get();
        if (s->open.empty()) {
          s->root = std::move(element);
        } else {
          s->open.back()->children.push_back(std::move(element));
        }
        s->open.push_back(raw);
      },
      [](void* data, const XML_Char*) { static_cast<State*>(data)->open.pop_back(); });
  XML_SetCharacterDataHandler(parser, [](void* data, const XML_Char* chars, int length) {
    auto* s = static_cast<State*>(data);
    if (!s->open.empty()) s->open.back()->text.append(chars, length);
  });
  const bool ok = XML_Parse(parser, text.data(), static_cast<int>(text.size()), 1) == XML_STATUS_OK;
  if (!ok && error != nullptr) {
    std::ostringstream message;
    message << "line " << XML_GetCurrentLineNumber(parser) << ": "
            << XML_ErrorString(XML_GetErrorCode(parser));
    *error = message.str();
  }
  XML_ParserFree(parser);
  if (!ok) return nullptr;
  return std::move(state.root);
}

// The number of "x,y" pairs in a polyline's points attribute.
inline int PointCount(const XmlElement& polyline) {
  std::istringstream points(polyline.Attribute("points"));
  std::string pair;
  int count = 0;
  while (points >> pair) count += pair.find(',') != std::string::npos;
  return count;
}

}  // namespace kiln::testing

#endif  // KILN_TESTS_TOOLS_SVG_READER_H_
