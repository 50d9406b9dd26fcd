/* demangle.h - C++ symbol names as people read them ("_ZN2ns4heapIiE4growEm" -> "ns::heap<int>::grow(unsigned
 * long)"), with the parameter list, as heaptrack and perf show them. libiberty's demangler (the one binutils and
 * perf use), restricted to the Itanium C++ ABI so that C names are never touched. */
#ifndef TQ_DEMANGLE_H
#define TQ_DEMANGLE_H

/* The demangled form of name, malloc'd (the caller frees it), or NULL when name is not a C++ ABI name ("_Z...",
 * also with an "@VERSION" suffix, which is kept) or cannot be demangled, or memory runs out. Can't fail otherwise. */
char *tq_demangle(const char *name);

#endif
