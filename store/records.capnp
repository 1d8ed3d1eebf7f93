# placeholder; the store defines its records here.
@0xe65cd40a75162fb0;
struct Placeholder {}
