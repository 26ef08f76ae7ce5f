"""In-tree plugins, each registered through the ``connect_engine`` entry points like a third party's."""
