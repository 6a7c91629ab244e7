/* SPDX-License-Identifier: MIT */
/*
 * `aicctl models list` and `aicctl models download ID`: models offered by a
 * manifest (JSON: {"models": [{"id", "url", "sha256", "size", "sample_rate",
 * "description"}]}), downloaded with libcurl (size-limited, progress bar on a
 * terminal), verified (SHA-256 and a full load by the engine) and installed
 * atomically into $XDG_DATA_HOME/aicd/models/ID.aicm.
 *
 * The manifest is the bundled one ($prefix/share/aicd/models/manifest.json),
 * or the file or URL in --manifest or $AICD_MODEL_MANIFEST.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aic.h"
#include "aicctl.h"
#include "model-path.h"

#define MANIFEST_MAX (256 * 1024)
#define MODEL_MAX (64L * 1024 * 1024)

typedef struct Download {
        FILE *f;
        char *mem;
        size_t len, limit;
        EVP_MD_CTX *sha;
        bool progress;
        int last_percent;
        curl_off_t expected;
} Download;

static size_t on_data(char *ptr, size_t size, size_t n, void *userdata) {
        Download *d = userdata;
        size_t len = size * n;

        if (d->len + len > d->limit)
                return 0; /* aborts the transfer: larger than announced */
        if (d->mem)
                memcpy(d->mem + d->len, ptr, len);
        else if (fwrite(ptr, 1, len, d->f) != len)
                return 0;
        if (d->sha)
                EVP_DigestUpdate(d->sha, ptr, len);
        d->len += len;
        return len;
}

static int on_progress(void *userdata, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un) {
        Download *d = userdata;
        curl_off_t all = d->expected > 0 ? d->expected : total;
        int percent, filled;

        (void) ut;
        (void) un;
        if (!d->progress || all <= 0)
                return 0;
        percent = (int) (now * 100 / all);
        if (percent == d->last_percent || percent > 100)
                return 0;
        d->last_percent = percent;
        filled = percent * 40 / 100;
        fprintf(stderr, "\r[%.*s%*s] %3d%%", filled, "========================================", 40 - filled, "",
                percent);
        if (percent == 100)
                fputc('\n', stderr);
        return 0;
}

static int fetch(const char *url, Download *d) {
        CURL *easy = curl_easy_init();
        char err[CURL_ERROR_SIZE] = "";
        const char *ca = getenv("AICD_CA_FILE");
        long code = 0;
        CURLcode c;

        if (!easy)
                return -ENOMEM;
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https,http,file");
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, d);
        curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, d);
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, err);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 15L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) d->limit);
        if (ca && ca[0])
                curl_easy_setopt(easy, CURLOPT_CAINFO, ca);
        c = curl_easy_perform(easy);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(easy);
        if (c != CURLE_OK) {
                fprintf(stderr, "%saicctl: cannot download %s: %s\n", d->progress ? "\n" : "", url,
                        err[0] ? err : curl_easy_strerror(c));
                return -EIO;
        }
        if (strncmp(url, "file:", 5) != 0 && code != 200) {
                fprintf(stderr, "aicctl: cannot download %s: HTTP status %ld\n", url, code);
                return -EIO;
        }
        return 0;
}

/* Reads the manifest into a cJSON array of model objects (or NULL). */
static cJSON *manifest_load(const char *spec, cJSON **ret_root) {
        char url[PATH_MAX + 16];
        Download d = {.limit = MANIFEST_MAX};
        cJSON *root, *models;

        if (!spec || !spec[0])
                spec = getenv("AICD_MODEL_MANIFEST");
        if (!spec || !spec[0])
                spec = AICD_MODELDIR "/manifest.json";
        if (strstr(spec, "://"))
                snprintf(url, sizeof(url), "%s", spec);
        else if (access(spec, R_OK) == 0)
                snprintf(url, sizeof(url), "file://%s", spec);
        else {
                fprintf(stderr, "aicctl: no model manifest at %s\n", spec);
                return NULL;
        }
        d.mem = malloc(MANIFEST_MAX + 1);
        if (!d.mem)
                return NULL;
        if (fetch(url, &d) < 0) {
                free(d.mem);
                return NULL;
        }
        d.mem[d.len] = '\0';
        root = cJSON_ParseWithLength(d.mem, d.len);
        free(d.mem);
        models = root ? cJSON_GetObjectItemCaseSensitive(root, "models") : NULL;
        if (!cJSON_IsArray(models)) {
                fprintf(stderr, "aicctl: the model manifest is not valid JSON with a \"models\" list\n");
                cJSON_Delete(root);
                return NULL;
        }
        *ret_root = root;
        return models;
}

/* One entry's fields, checked; false when the entry is malformed. */
static bool entry_fields(const cJSON *m, const char **id, const char **url, const char **sha, double *size,
                         double *rate) {
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(m, "id"), *u = cJSON_GetObjectItemCaseSensitive(m, "url"),
                    *h = cJSON_GetObjectItemCaseSensitive(m, "sha256"), *s = cJSON_GetObjectItemCaseSensitive(m, "size"),
                    *r = cJSON_GetObjectItemCaseSensitive(m, "sample_rate");
        char tmp[64];

        if (!cJSON_IsString(i) || !cJSON_IsString(u) || !cJSON_IsString(h) || strlen(h->valuestring) != 64 ||
            strspn(h->valuestring, "0123456789abcdef") != 64 || !cJSON_IsNumber(s) || s->valuedouble <= 0 ||
            s->valuedouble > (double) MODEL_MAX || !cJSON_IsNumber(r) ||
            model_path_resolve(i->valuestring, tmp, sizeof(tmp)) == -EINVAL || strchr(i->valuestring, '/'))
                return false;
        *id = i->valuestring;
        *url = u->valuestring;
        *sha = h->valuestring;
        *size = s->valuedouble;
        *rate = r->valuedouble;
        return true;
}

static int user_model_dir(char *buf, size_t size) {
        const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

        if (xdg && xdg[0] == '/')
                snprintf(buf, size, "%s/aicd/models", xdg);
        else if (home && home[0] == '/')
                snprintf(buf, size, "%s/.local/share/aicd/models", home);
        else
                return -ENOENT;
        return 0;
}

static int mkdir_p(const char *path) {
        char buf[PATH_MAX];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *p = '/';
                }
        return mkdir(buf, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static int models_list(const char *manifest) {
        cJSON *root = NULL, *models = manifest_load(manifest, &root), *m;
        char path[PATH_MAX];

        if (!models)
                return AICCTL_EXIT_FAILURE;
        printf("%-24s %8s %10s  %-10s %s\n", "ID", "RATE", "SIZE", "INSTALLED", "DESCRIPTION");
        cJSON_ArrayForEach(m, models) {
                const char *id, *url, *sha;
                const cJSON *desc = cJSON_GetObjectItemCaseSensitive(m, "description");
                double size, rate;

                if (!entry_fields(m, &id, &url, &sha, &size, &rate))
                        continue;
                printf("%-24s %8.0f %8.1f MB  %-10s %s\n", id, rate, size / 1e6,
                       model_path_resolve(id, path, sizeof(path)) == 0 ? "yes" : "no",
                       cJSON_IsString(desc) ? desc->valuestring : "");
        }
        cJSON_Delete(root);
        return AICCTL_EXIT_SUCCESS;
}

static int models_download(const char *manifest, const char *want) {
        cJSON *root = NULL, *models = manifest_load(manifest, &root), *m;
        char dir[PATH_MAX], tmp[PATH_MAX + 32], dst[PATH_MAX + 16], hex[65];
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        const char *id = NULL, *url = NULL, *sha = NULL;
        double size = 0, rate = 0;
        Download d = {0};
        AicModel *model = NULL;
        enum aic_error e;
        int fd, ret = AICCTL_EXIT_FAILURE;

        if (!models)
                return AICCTL_EXIT_FAILURE;
        cJSON_ArrayForEach(m, models)
                if (entry_fields(m, &id, &url, &sha, &size, &rate) && strcmp(id, want) == 0)
                        break;
        if (!m) {
                fprintf(stderr, "aicctl: no model '%s' in the manifest (see aicctl models list)\n", want);
                goto out;
        }
        if (user_model_dir(dir, sizeof(dir)) < 0 || mkdir_p(dir) < 0) {
                fprintf(stderr, "aicctl: cannot create the model folder %s: %s\n", dir, strerror(errno));
                goto out;
        }
        snprintf(dst, sizeof(dst), "%s/%s.aicm", dir, id);
        snprintf(tmp, sizeof(tmp), "%s/.%s.aicm.XXXXXX", dir, id);
        fd = mkstemp(tmp);
        if (fd < 0 || !(d.f = fdopen(fd, "w"))) {
                fprintf(stderr, "aicctl: cannot write to %s: %s\n", dir, strerror(errno));
                if (fd >= 0)
                        close(fd);
                goto out;
        }
        d.limit = (size_t) size;
        d.expected = (curl_off_t) size;
        d.sha = EVP_MD_CTX_new();
        d.progress = isatty(STDERR_FILENO);
        d.last_percent = -1;
        if (!d.sha || EVP_DigestInit_ex(d.sha, EVP_sha256(), NULL) != 1 || fetch(url, &d) < 0)
                goto fail;
        if (fflush(d.f) != 0 || fsync(fileno(d.f)) != 0) {
                fprintf(stderr, "aicctl: cannot write %s: %s\n", tmp, strerror(errno));
                goto fail;
        }
        if (d.len != (size_t) size) {
                fprintf(stderr, "aicctl: %s: got %zu bytes, the manifest says %.0f\n", id, d.len, size);
                goto fail;
        }
        EVP_DigestFinal_ex(d.sha, digest, &dlen);
        for (unsigned i = 0; i < dlen && i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        if (strcmp(hex, sha) != 0) {
                fprintf(stderr, "aicctl: %s: SHA-256 does not match the manifest; not installed\n", id);
                goto fail;
        }
        e = aic_model_create_from_file(&model, tmp);
        if (e != AIC_ERROR_SUCCESS) {
                fprintf(stderr, "aicctl: %s: not a valid model: %s\n", id, aic_error_message(e));
                goto fail;
        }
        aic_model_destroy(model);
        fclose(d.f);
        d.f = NULL;
        chmod(tmp, 0644);
        if (rename(tmp, dst) < 0) {
                fprintf(stderr, "aicctl: cannot install %s: %s\n", dst, strerror(errno));
                goto fail;
        }
        printf("Installed %s (%zu bytes, SHA-256 verified) as %s\n", id, d.len, dst);
        printf("Use it with: aicctl enhance --model %s ..., or [engine] model = %s in aicd.conf and aicctl reload\n",
               id, id);
        ret = AICCTL_EXIT_SUCCESS;
        goto out;
fail:
        unlink(tmp);
out:
        if (d.f)
                fclose(d.f);
        EVP_MD_CTX_free(d.sha);
        cJSON_Delete(root);
        return ret;
}

int aicctl_models(int argc, char **argv) {
        static const struct option options[] = {
                {"manifest", required_argument, NULL, 'm'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *manifest = NULL;
        int opt, r;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) >= 0)
                switch (opt) {
                case 'm':
                        manifest = optarg;
                        break;
                case 'h':
                        printf("Usage: aicctl models list [--manifest PATH|URL]\n"
                               "       aicctl models download ID [--manifest PATH|URL]\n");
                        return AICCTL_EXIT_SUCCESS;
                default:
                        return AICCTL_EXIT_USAGE;
                }
        if (optind < argc && strcmp(argv[optind], "list") == 0 && argc - optind == 1) {
                curl_global_init(CURL_GLOBAL_DEFAULT);
                r = models_list(manifest);
        } else if (optind < argc && strcmp(argv[optind], "download") == 0 && argc - optind == 2) {
                curl_global_init(CURL_GLOBAL_DEFAULT);
                r = models_download(manifest, argv[optind + 1]);
        } else {
                fprintf(stderr, "Usage: aicctl models list|download ID [--manifest PATH|URL]\n");
                return AICCTL_EXIT_USAGE;
        }
        curl_global_cleanup();
        return r;
}
