//! The Teams request form: `jit request` alone answers with a card form, whose submission files a request.
