/* SPDX-License-Identifier: MIT */
/* libFuzzer: bytes as a DER certificate (the client-auth identity path), and as a bare Name
 * and GeneralNames for the RFC 4514 and SAN renderers. */
#include <stdint.h>
#include <stdlib.h>

#include "tls/tls-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render(const struct tls_span *name, const struct tls_span *san)
{
    char *s = NULL;
    if (rw__tls_subject_rfc4514(name, &s) == 0)
        free(s);
    free(rw__tls_san_text(san));
    char **names = NULL;
    size_t n = 0;
    rw__tls_san_dns(san, &names, &n);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tls_x509 x;
    if (rw__tls_x509_parse(data, size, &x) == 0)
        render(&x.subject, &x.san);
    struct tls_span raw = {data, size};
    render(&raw, &raw);
    struct tls_peer *p = NULL;
    if (rw__tls_peer_from_der(data, size, &p) == 0)
        free(p);
    return 0;
}
