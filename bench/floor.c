/* floor.c: the per-page floor for `make bench`. Fetches the same URL N times over one
 * kept-alive libcurl easy handle and throws the bytes away: no parsing, no Lua. What
 * lua-infisical spends above this is its own cost (headers, decode, native tables).
 *
 *   floor URL N   ->   prints "cpu_seconds wall_seconds bytes_per_page"
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>
#include <curl/curl.h>

static size_t sink(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    *(size_t *)ud += size * nmemb;
    return size * nmemb;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    CURL *c;
    struct curl_slist *h = NULL;
    size_t bytes = 0;
    long i, n, status = 0;
    double c0, w0;
    if (argc != 3 || (n = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: floor URL N\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    /* The same request lua-infisical sends, so the server does the same work. */
    h = curl_slist_append(h, "Authorization: Bearer bench-token");
    h = curl_slist_append(h, "Accept: application/json");
    curl_easy_setopt(c, CURLOPT_URL, argv[1]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bytes);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    c0 = cpu_now();
    w0 = wall_now();
    for (i = 0; i < n; i++) {
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200) {
            fprintf(stderr, "floor: request %ld failed: %s, HTTP %ld\n", i, curl_easy_strerror(rc), status);
            return 1;
        }
    }
    printf("%.6f %.6f %zu\n", cpu_now() - c0, wall_now() - w0, bytes / (size_t)n);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return 0;
}
