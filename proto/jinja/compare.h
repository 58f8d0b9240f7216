#pragma once
// Python's truth, equality, ordering and membership for template values.
#include "proto/jinja/value.h"

namespace hearth::jinja {

// Python's bool(v): empty strings and containers, 0, 0.0, None and undefined are false.
bool truthy(const value& v);

// Python's ==: numbers by value (True == 1 == 1.0), strings by bytes (user marks do not matter),
// lists and tuples element-wise (a list never equals a tuple), dicts as mappings, objects by
// identity, any two undefined values equal.
bool equals(const value& a, const value& b);

// Python's ordering: -1, 0 or 1. Numbers, strings (by code point), and lists or tuples
// (lexicographically); anything else is a TypeError naming `op` ("<", "sort" ...).
int compare(const value& a, const value& b, std::string_view op);

// Python's `needle in haystack`: substring for strings, element for lists, key for dicts,
// false for undefined; a TypeError for anything else.
bool contains(const value& haystack, const value& needle);

}  // namespace hearth::jinja
