#pragma once
#define HEARTH_VERSION "0.1.0"
