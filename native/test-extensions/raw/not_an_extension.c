/* A shared library that is not a Kiln extension: it exports neither entry point. */
int not_an_extension(void);
__attribute__((visibility("default"))) int not_an_extension(void) { return 42; }
