/*
 * test_xml.c - the XML reader (host/src/formats/xml.h): the tree it builds
 * (names, attributes, positions, order of children), what it refuses
 * (DOCTYPE, entity declarations internal and external, undefined entities)
 * and its limits (depth, elements, attributes, bytes), and the position and
 * wording of its errors for malformed XML and invalid UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/xml.h"
#include "quiver.h"

/* Parses text (strlen) with lim, expecting rc, line:column and a message
 * that contains msg. */
static void refused(const char *text, const qv__xml_limits *lim, int rc, unsigned line,
                    unsigned column, const char *msg)
{
    qv__xml_node *root = (qv__xml_node *)1;
    qv__xml_error e;
    int got = qv__xml_parse(text, strlen(text), lim, &root, &e);
    if (got != rc || e.line != line || e.column != column || !strstr(e.msg, msg))
        fprintf(stderr, "for %.60s: rc %d, %u:%u: %s\n", text, got, e.line, e.column,
                e.msg);
    assert_int_equal(got, rc);
    assert_null(root);
    assert_int_equal(e.line, line);
    assert_int_equal(e.column, column);
    assert_non_null(strstr(e.msg, msg));
}

static qv__xml_node *parsed(const char *text, const qv__xml_limits *lim)
{
    qv__xml_node *root = NULL;
    qv__xml_error e;
    int rc = qv__xml_parse(text, strlen(text), lim, &root, &e);
    if (rc)
        fprintf(stderr, "%u:%u: %s\n", e.line, e.column, e.msg);
    assert_int_equal(rc, 0);
    assert_non_null(root);
    return root;
}

static void test_tree(void **state)
{
    (void)state;
    static const char text[] = "\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?>\n"
                               "<!-- a comment <with> & stuff -->\n"
                               "<r a=\"1\" b='&lt;&amp;&#65;&#x42;&quot;' c='x\ty\nz'>\n"
                               "  text <![CDATA[ <not an element> ]]> <?pi data?>\n"
                               "  <k:one id=\"\xc3\xa9t\xc3\xa9\"/><two><three/></two>\n"
                               "  <one/>\n"
                               "</r>\n";
    qv__xml_node *r = parsed(text, NULL);
    assert_string_equal(r->name, "r");
    assert_int_equal(r->nattrs, 3);
    assert_string_equal(r->attr[0], "a");
    assert_string_equal(r->attr[1], "1");
    assert_null(r->attr[6]);
    assert_string_equal(qv__xml_attr(r, "b"), "<&AB\"");
    /* Whitespace in a value is normalized to spaces, as XML says. */
    assert_string_equal(qv__xml_attr(r, "c"), "x y z");
    assert_null(qv__xml_attr(r, "d"));
    assert_int_equal(r->line, 3);
    assert_int_equal(r->column, 1);
    assert_int_equal(r->offset, (size_t)(strstr(text, "<r ") - text));
    assert_null(r->parent);
    assert_null(r->next);
    /* Children in document order, prefixes kept, UTF-8 values decoded;
     * columns count characters. */
    const qv__xml_node *one = r->child;
    assert_string_equal(one->name, "k:one");
    assert_string_equal(qv__xml_attr(one, "id"), "\xc3\xa9t\xc3\xa9");
    assert_int_equal(one->line, 6);
    assert_int_equal(one->column, 3);
    const qv__xml_node *two = one->next;
    assert_string_equal(two->name, "two");
    assert_int_equal(two->column, 20);
    assert_ptr_equal(two->parent, r);
    assert_string_equal(two->child->name, "three");
    assert_ptr_equal(two->child->parent, two);
    assert_null(two->child->child);
    assert_string_equal(two->next->name, "one");
    assert_ptr_equal(r->last, two->next);
    assert_null(two->next->next);
    assert_ptr_equal(qv__xml_child(r, "one"), two->next);
    assert_ptr_equal(qv__xml_child(r, "two"), two);
    assert_null(qv__xml_child(r, "three"));
    qv__xml_free(r);
    qv__xml_free(NULL);

    /* The encoding is UTF-8 whatever the declaration says. */
    refused("<?xml version='1.0' encoding='ISO-8859-1'?><a x='\xe9'/>", NULL, QV_EFORMAT,
            1, 50, "invalid UTF-8 (byte 0xe9)");
    r = parsed("<?xml version='1.0' encoding='UTF-16'?><a/>", NULL);
    qv__xml_free(r);
}

static void test_doctype_and_entities(void **state)
{
    (void)state;
    refused("<?xml version=\"1.0\"?>\n<!DOCTYPE a>\n<a/>", NULL, QV_EFORMAT, 2, 1,
            "a DOCTYPE declaration is not accepted");
    /* The billion laughs: refused at its DTD, before any expansion. */
    refused("<?xml version=\"1.0\"?>\n"
            "<!DOCTYPE lolz [\n"
            " <!ENTITY lol \"lol\">\n"
            " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
            " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
            " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
            "]>\n<lolz>&lol3;</lolz>\n",
            NULL, QV_EFORMAT, 2, 1, "no entity declarations");
    /* External entities, general and parameter, and an external DTD. */
    refused("<!DOCTYPE a [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><a>&e;</a>", NULL,
            QV_EFORMAT, 1, 1, "DOCTYPE");
    refused("<!DOCTYPE a [<!ENTITY % p SYSTEM \"http://example.com/x\"> %p;]><a/>", NULL,
            QV_EFORMAT, 1, 1, "DOCTYPE");
    refused("<!DOCTYPE a SYSTEM \"http://example.com/a.dtd\"><a/>", NULL, QV_EFORMAT, 1,
            1, "DOCTYPE");
    /* The position is where "<!DOCTYPE" starts, whatever expat had read
     * when it reported it: across lines (\n, \r\n), after a BOM. */
    refused("\xef\xbb\xbf<!-- c -->\n  <!DOCTYPE a\n SYSTEM \"x.dtd\"\n>\n<a/>", NULL,
            QV_EFORMAT, 2, 3, "DOCTYPE");
    refused("\xef\xbb\xbf<!DOCTYPE a [\n]><a/>", NULL, QV_EFORMAT, 1, 1, "DOCTYPE");
    refused("<?xml version='1.0'?>\r\n<!--\xc3\xa9--><!DOCTYPE a\r\n[]>\r\n<a/>", NULL,
            QV_EFORMAT, 2, 9, "DOCTYPE");
    refused("<?xml version='1.0'?>\r\n<!DOCTYPE a\r\n[]>\r\n<a/>", NULL, QV_EFORMAT, 2, 1,
            "DOCTYPE");
    /* Without a DTD, only the predefined entities exist. */
    refused("<a>\n  &e;</a>", NULL, QV_EFORMAT, 2, 3, "undefined entity");
    refused("<a x='&e;'/>", NULL, QV_EFORMAT, 1, 1, "undefined entity");
}

static void test_limits(void **state)
{
    (void)state;
    /* Depth: 64 levels by default, a zero field takes its default. */
    char deep[65 * 8 + 1] = "";
    for (int i = 0; i < 64; i++)
        strcat(deep, "<a>");
    for (int i = 0; i < 64; i++)
        strcat(deep, "</a>");
    qv__xml_free(parsed(deep, NULL));
    memmove(deep + 3, deep, strlen(deep) + 1);
    memcpy(deep, "<b>", 3);
    strcat(deep, "</b>");
    qv__xml_limits lim = {0};
    refused(deep, &lim, QV_EFORMAT, 1, 1 + 3 * 64, "elements nested deeper than 64");
    lim.max_depth = 2;
    refused("<a><b/><b><c/></b></a>", &lim, QV_EFORMAT, 1, 11,
            "elements nested deeper than 2");
    qv__xml_free(parsed("<a><b/><b/></a>", &lim));
    /* Elements, attributes, bytes. */
    lim = (qv__xml_limits){.max_elements = 3};
    qv__xml_free(parsed("<a><b/><b/></a>", &lim));
    refused("<a><b/><b/>\n<b/></a>", &lim, QV_EFORMAT, 2, 1, "more than 3 elements");
    lim = (qv__xml_limits){.max_attrs = 2};
    qv__xml_free(parsed("<a x='1' y='2'/>", &lim));
    refused("<r><a x='1' y='2' z='3'/></r>", &lim, QV_EFORMAT, 1, 4,
            "more than 2 attributes in <a>");
    lim = (qv__xml_limits){.max_bytes = 8};
    qv__xml_free(parsed("<a></a> ", &lim));
    refused("<a></a>  ", &lim, QV_EFORMAT, 0, 0, "XML of 9 bytes, more than 8");
    /* The default element limit holds a wide document (and frees it). */
    size_t n = 100000;
    char *wide = malloc(n * 4 + 8);
    assert_non_null(wide);
    strcpy(wide, "<r>");
    for (size_t i = 0; i < n; i++)
        memcpy(wide + 3 + 4 * i, "<a/>", 4);
    strcpy(wide + 3 + 4 * n, "</r>");
    qv__xml_node *r = parsed(wide, NULL);
    size_t count = 0;
    for (const qv__xml_node *k = r->child; k; k = k->next)
        count++;
    assert_int_equal(count, n);
    qv__xml_free(r);
    free(wide);
}

#define LETTERS "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm"

static void test_malformed(void **state)
{
    (void)state;
    refused("", NULL, QV_EFORMAT, 1, 1, "no root element");
    refused("  \n <!-- only a comment -->\n", NULL, QV_EFORMAT, 3, 1, "no root element");
    refused("<project>\n <a/>\n", NULL, QV_EFORMAT, 3, 1,
            "the document ends inside <project>");
    refused("<a>\n<b></a>", NULL, QV_EFORMAT, 2, 6, "mismatched tag: </b> expected");
    refused("<a/>\n<b/>", NULL, QV_EFORMAT, 2, 1, "content after the root element");
    refused("x<a/>", NULL, QV_EFORMAT, 1, 2, "not well-formed");
    refused("<a x=1/>", NULL, QV_EFORMAT, 1, 6, "not well-formed");
    refused("<a x='<'/>", NULL, QV_EFORMAT, 1, 7, "not well-formed");
    refused("<a>]]></a>", NULL, QV_EFORMAT, 1, 6, "not well-formed");
    refused("<a><!-- x </a>", NULL, QV_EFORMAT, 1, 4, "unclosed token");
    refused("<a x='&#0;'/>", NULL, QV_EFORMAT, 1, 7, "reference to invalid character");
    refused("<a x='&#x41'/>", NULL, QV_EFORMAT, 1, 12, "not well-formed");
    /* Repeated attributes, named, at the repeat. */
    refused("<r>\n  <job id=\"a\" name=\"f\"\n       id=\"b\"/></r>", NULL, QV_EFORMAT, 3,
            8, "duplicate attribute 'id' in <job>");
    refused("<a x='1' x='2'/>", NULL, QV_EFORMAT, 1, 10,
            "duplicate attribute 'x' in <a>");
    /* A name longer than a message shows is cut at a character: 63 ASCII
     * bytes and a 2-byte character make 65, and the message ends with the
     * 63 letters, not with half of the character. */
    char text[256], msg[128];
    snprintf(text, sizeof text, "<a>\n<%.63s\xc3\xa9></a>", LETTERS);
    snprintf(msg, sizeof msg, "mismatched tag: </%.63s> expected", LETTERS);
    refused(text, NULL, QV_EFORMAT, 2, 69, msg);
    snprintf(text, sizeof text, "<%.63s\xc3\xa9 x='1' x='2'/>", LETTERS);
    snprintf(msg, sizeof msg, "duplicate attribute 'x' in <%.63s>", LETTERS);
    refused(text, NULL, QV_EFORMAT, 1, 73, msg);
    /* err may be NULL. */
    qv__xml_node *root = (qv__xml_node *)1;
    assert_int_equal(qv__xml_parse("<a>", 3, NULL, &root, NULL), QV_EFORMAT);
    assert_null(root);
}

static void test_utf8(void **state)
{
    (void)state;
    refused("<a>\n  ok \xff</a>", NULL, QV_EFORMAT, 2, 6, "invalid UTF-8 (byte 0xff)");
    refused("<a x='ab\xc3\x28'/>", NULL, QV_EFORMAT, 1, 9, "invalid UTF-8 (byte 0xc3)");
    refused("<a>\xe2\x82</a>", NULL, QV_EFORMAT, 1, 4, "invalid UTF-8 (byte 0xe2)");
    refused("<a>\xc0\xaf</a>", NULL, QV_EFORMAT, 1, 4, "invalid UTF-8 (byte 0xc0)");
    refused("<a>\xed\xa0\x80</a>", NULL, QV_EFORMAT, 1, 4, "invalid UTF-8 (byte 0xed)");
    refused("<a>\xe2\x82", NULL, QV_EFORMAT, 1, 4, "invalid UTF-8 (byte 0xe2)");
    refused("<\xc3\xa9\xff/>", NULL, QV_EFORMAT, 1, 3, "invalid UTF-8 (byte 0xff)");
    refused("<a>x\x01</a>", NULL, QV_EFORMAT, 1, 5,
            "control character 0x01 is not allowed in XML");
    /* A NUL inside the input is not the end of it. */
    qv__xml_node *root = NULL;
    qv__xml_error e;
    assert_int_equal(qv__xml_parse("<a>\0</a>", 8, NULL, &root, &e), QV_EFORMAT);
    assert_string_equal(e.msg, "control character 0x00 is not allowed in XML");
    assert_int_equal(e.offset, 3);
    /* Valid UTF-8 everywhere: names, values, text; 4-byte sequences too. */
    qv__xml_node *r =
        parsed("<\xc3\xa9l \xc3\xa0='\xf0\x9f\x98\x80'>\xe2\x82\xac</\xc3\xa9l>", NULL);
    assert_string_equal(r->name, "\xc3\xa9l");
    assert_string_equal(qv__xml_attr(r, "\xc3\xa0"), "\xf0\x9f\x98\x80");
    qv__xml_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree),   cmocka_unit_test(test_doctype_and_entities),
        cmocka_unit_test(test_limits), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
