// The target's functions are static inline in include/cprefetch.h, so that
// Swift inlines them; SwiftPM wants a source file in every C target.
#include "cprefetch.h"
